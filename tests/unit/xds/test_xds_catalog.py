"""The catalog of accepted dynamic resources: checks before anything changes, warming, and the
config it composes with the bootstrap."""
from hotproxy.config.parse import parse_bootstrap
from hotproxy.xds.catalog import Catalog

ADS = {"ads": {}}
STATIC = {
    "dynamic_resources": {"ads_config": {"api_type": "GRPC", "grpc_services": [
        {"envoy_grpc": {"cluster_name": "xds"}}]}, "lds_config": ADS, "cds_config": ADS},
    "static_resources": {
        "clusters": [{"name": "xds", "type": "STATIC", "load_assignment": {
            "cluster_name": "xds", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": 18000}}}}]}]}}],
        "listeners": [{"name": "static", "address": {"socket_address": {
            "address": "127.0.0.1", "port_value": 10000}}, "filter_chains": [{"filters": [
                {"name": "tcp", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": "t", "cluster": "xds"}}]}]}],
    },
}
ROUTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def catalog(clock=None):
    bootstrap = parse_bootstrap(STATIC)
    return Catalog(STATIC, bootstrap, clock=clock or (lambda: 1000.0))


def http_listener(name, port, rds=None):
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager", "stat_prefix": name, "http_filters": [ROUTER]}
    if rds:
        hcm["rds"] = {"route_config_name": rds, "config_source": ADS}
    else:
        hcm["route_config"] = {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "xds"}}]}]}
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "hcm", "typed_config": hcm}]}]}


def eds_cluster(name):
    return {"name": name, "type": "EDS", "connect_timeout": "1s",
            "eds_cluster_config": {"eds_config": ADS}}


def assignment(name, *ports):
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
        for port in ports]}]}


def accept(cat, kind, version, *bodies, key="name"):
    checked, reason = cat.check(kind, {body[key]: body for body in bodies})
    assert reason is None, reason
    cat.apply(kind, version, checked)


def test_an_eds_cluster_warms_until_its_assignment_arrives():
    cat = catalog()
    accept(cat, "clusters", "1", eds_cluster("svc"))
    assert set(cat.service_sources()) == {"svc"} and cat.service_sources()["svc"].ads
    assert cat.warming("clusters") == ["svc"] and cat.active("clusters") == {}
    assert not cat.initial_done({"clusters"})
    accept(cat, "endpoints", "1", assignment("svc", 8080), key="cluster_name")
    assert cat.warming("clusters") == [] and list(cat.active("clusters")) == ["svc"]
    assert cat.initial_done({"clusters"})
    tree = cat.composed_tree()
    assert [c["name"] for c in tree["static_resources"]["clusters"]] == ["xds", "svc"]
    assert parse_bootstrap(tree).cluster("svc").eds.service_name == "svc"


def test_a_listener_waits_for_its_routes_unless_their_fetch_timed_out():
    cat = catalog()
    accept(cat, "listeners", "1", http_listener("web", 10001, rds="routes-a"))
    assert list(cat.route_sources()) == ["routes-a"] and cat.warming("listeners") == ["web"]
    cat.fetch_timed_out("routes", ["routes-a"])
    assert cat.warming("listeners") == [] and list(cat.active("listeners")) == ["web"]


def test_a_listener_that_collides_with_a_static_one_is_refused_by_name():
    cat = catalog()
    checked, reason = cat.check("listeners", {"web": http_listener("web", 10000)})
    assert checked == {}
    assert reason == "listener 'web': address: duplicate listener address 127.0.0.1:10000"
    assert cat.entries["listeners"] == {} and cat.versions["listeners"] == ""


def test_an_inline_route_to_a_missing_cluster_is_refused():
    cat = catalog()
    listener = http_listener("web", 10001)
    listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0][
        "routes"][0]["route"]["cluster"] = "nowhere"
    _checked, reason = cat.check("listeners", {"web": listener})
    assert "listener 'web': " in reason and "cluster 'nowhere' is not defined" in reason


def test_a_resource_is_refused_with_its_field_path():
    cat = catalog()
    cluster = {**eds_cluster("svc"), "lb_policy": "ROUND_ROBBIN"}
    _checked, reason = cat.check("clusters", {"svc": cluster})
    assert reason.startswith("cluster 'svc': lb_policy: unknown enum value 'ROUND_ROBBIN'")


def test_unknown_fields_are_counted_and_dropped():
    cat = catalog()
    accept(cat, "clusters", "1", {**eds_cluster("svc"), "brand_new_field": True})
    assert cat.unknown_fields == 1
    assert "brand_new_field" not in cat.entries["clusters"]["svc"].body


def test_a_resource_must_carry_the_name_it_is_sent_under():
    _checked, reason = catalog().check("clusters", {"a": eds_cluster("b")})
    assert reason == "cluster 'a': its name is 'b'"


def test_an_unchanged_resource_keeps_its_version_and_time():
    now = [1000.0]
    cat = catalog(clock=lambda: now[0])
    accept(cat, "clusters", "1", eds_cluster("a"), eds_cluster("b"))
    now[0] = 2000.0
    accept(cat, "clusters", "2", eds_cluster("a"), {**eds_cluster("b"), "connect_timeout": "2s"})
    entries = cat.entries["clusters"]
    assert (entries["a"].version, entries["a"].last_updated) == ("1", 1000.0)
    assert (entries["b"].version, entries["b"].last_updated) == ("2", 2000.0)
    snapshot = cat.snapshot(initial=True)
    assert snapshot["versions"]["clusters"] == "2"
    assert snapshot["resources"]["clusters"]["b"] == ["2", 2000.0]


def test_a_source_through_a_cluster_that_is_not_static_is_refused():
    cat = catalog()
    listener = http_listener("web", 10001, rds="r")
    listener["filter_chains"][0]["filters"][0]["typed_config"]["rds"]["config_source"] = {
        "api_config_source": {"api_type": "GRPC", "grpc_services": [
            {"envoy_grpc": {"cluster_name": "dynamic-one"}}]}}
    _checked, reason = cat.check("listeners", {"web": listener})
    assert reason.startswith("listener 'web': rds.config_source: the control plane's cluster "
                             "'dynamic-one' is not a static cluster")


def test_a_tls_listener_warms_until_its_secret_comes_whatever_the_timeout():
    from certs import CA
    issued = CA().issue("web", dns=["web.example.com"])
    cat = catalog()
    listener = http_listener("web", 10001)
    listener["filter_chains"][0]["transport_socket"] = {"name": "tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {"tls_certificate_sds_secret_configs": [{"name": "cert", "sds_config": ADS}]}}}
    accept(cat, "listeners", "1", listener)
    assert list(cat.secret_sources()) == ["cert"] and cat.warming("listeners") == ["web"]
    assert not cat.initial_done({"listeners"})
    cat.fetch_timed_out("secrets", ["cert"])
    assert cat.initial_done({"listeners"}) and cat.warming("listeners") == ["web"]
    accept(cat, "secrets", "1", {"name": "cert", "tls_certificate": {
        "certificate_chain": {"inline_string": issued.chain_pem.decode()},
        "private_key": {"inline_string": issued.key_pem().decode()}}})
    assert cat.warming("listeners") == [] and list(cat.snapshot(True)["secrets"]) == ["cert"]
