"""/config_dump as Envoy 1.40 answers it (hotproxy/admin/config_dump*.py): the configs and their
order, the static and dynamic (xDS) resources, ?resource=, ?mask=, ?name_regex=, ?include_eds,
and the errors. What each test expects is what Envoy 1.40 printed for the same config
(tests/integration/test_config_dump_differential.py holds the two side by side)."""
import json

import pytest

from hotproxy.admin.config_dump import REDACTED, ConfigDumpError, config_dump, redact, timestamp
from hotproxy.admin.config_dump_endpoints import endpoint_config
from hotproxy.admin.config_dump_query import FIELDS
from hotproxy.admin.endpoints import build_endpoints
from hotproxy.admin.server import AdminRouter, Request

ADMIN = "type.googleapis.com/envoy.admin.v3."
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ADS = {"ads": {}, "resource_api_version": "V3"}
LOADED = "2026-12-06T13:20:01Z"


def address(port):
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def routes(name, cluster="backend"):
    return {"name": name, "virtual_hosts": [{"name": "vh", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": cluster}}]}]}


def http_listener(name, port, route_config=None, rds=None):
    hcm = {"@type": HCM, "stat_prefix": name, "http_filters": [ROUTER]}
    if rds is not None:
        hcm["rds"] = {"config_source": ADS, "route_config_name": rds}
    else:
        hcm["route_config"] = route_config
    return {"name": name, "address": address(port), "filter_chains": [{"filters": [
        {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}


def tcp_listener(name, port, cluster="backend"):
    return {"name": name, "address": address(port), "filter_chains": [{"filters": [
        {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": name, "cluster": cluster}}]}]}


def static_cluster(name, *ports):
    return {"name": name, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(port)}}
                                                              for port in ports]}]}}


def eds_cluster(name, service_name=None):
    eds = {"eds_config": ADS, **({"service_name": service_name} if service_name else {})}
    return {"name": name, "type": "EDS", "connect_timeout": "1s", "eds_cluster_config": eds}


def text(listeners=(), clusters=(), **extra):
    resources = {}
    if listeners:
        resources["listeners"] = list(listeners)
    if clusters:
        resources["clusters"] = list(clusters)
    return json.dumps({"node": {"id": "n1", "cluster": "svc"}, **extra,
                       **({"static_resources": resources} if resources else {})})


STATIC = text([http_listener("http", 1001, routes("local")), tcp_listener("tcp", 1002)],
              [static_cluster("dead", 1), static_cluster("backend", 9)])


def types(dump):
    return [config["@type"].removeprefix(ADMIN) for config in dump["configs"]]


def by_type(dump):
    return {config["@type"].removeprefix(ADMIN): config for config in dump["configs"]}


def names(entries, field):
    return [entry[field]["name"] for entry in entries]


def refused(query, config_text=STATIC, dynamic=None):
    with pytest.raises(ConfigDumpError) as caught:
        config_dump(config_text, LOADED, dynamic, query)
    return caught.value.status, caught.value.message


# --- the static dump ------------------------------------------------------------------------------

def test_static_configs_in_envoys_order_and_shape():
    dump = config_dump(STATIC, LOADED)
    assert types(dump) == ["BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump",
                           "ScopedRoutesConfigDump", "RoutesConfigDump", "SecretsConfigDump"]
    configs = by_type(dump)
    assert configs["BootstrapConfigDump"]["bootstrap"] == json.loads(STATIC)
    assert configs["BootstrapConfigDump"]["last_updated"] == LOADED
    clusters = configs["ClustersConfigDump"]
    # No CDS: no version_info, no dynamic lists (Envoy's printer leaves empty fields out).
    assert set(clusters) == {"@type", "static_clusters"}
    assert names(clusters["static_clusters"], "cluster") == ["backend", "dead"]   # by name
    assert clusters["static_clusters"][0] == {
        "cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", **static_cluster("backend", 9)},
        "last_updated": LOADED}
    listeners = configs["ListenersConfigDump"]
    assert set(listeners) == {"@type", "static_listeners"}
    assert names(listeners["static_listeners"], "listener") == ["http", "tcp"]   # config order
    assert listeners["static_listeners"][0]["listener"]["@type"] == \
        "type.googleapis.com/envoy.config.listener.v3.Listener"
    assert configs["ScopedRoutesConfigDump"] == {"@type": ADMIN + "ScopedRoutesConfigDump"}
    assert configs["RoutesConfigDump"]["static_route_configs"] == [{
        "route_config": {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
                         **routes("local")},
        "last_updated": LOADED}]
    assert configs["SecretsConfigDump"] == {"@type": ADMIN + "SecretsConfigDump"}


def test_route_dumps_only_with_an_http_connection_manager():
    # Envoy's route config managers exist only once an HCM is configured.
    dump = config_dump(text([tcp_listener("tcp", 1)], [static_cluster("backend", 9)]), LOADED)
    assert types(dump) == ["BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump",
                           "SecretsConfigDump"]
    empty = config_dump(text(), LOADED, query={"include_eds": ""})
    assert types(empty) == ["BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump",
                            "SecretsConfigDump"]  # no cluster: no EndpointsConfigDump
    assert by_type(empty)["ClustersConfigDump"] == {"@type": ADMIN + "ClustersConfigDump"}


def test_every_inline_route_config_is_listed_once_per_connection_manager():
    chains = [http_listener("a", 1, routes("r1"))["filter_chains"][0],
              http_listener("a", 1, routes("r2"))["filter_chains"][0]]
    chains[0]["filter_chain_match"] = {"source_ports": [1]}
    listener = {"name": "a", "address": address(1), "filter_chains": chains,
                "default_filter_chain": http_listener("a", 1, routes("r1"))["filter_chains"][0]}
    dump = config_dump(text([listener]), LOADED)
    assert names(by_type(dump)["RoutesConfigDump"]["static_route_configs"], "route_config") == \
        ["r1", "r2", "r1"]


def test_secrets_are_redacted_as_envoy_does():
    tls = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {"tls_certificates": [{
            "certificate_chain": {"filename": "/c.pem"},
            "private_key": {"inline_string": "KEY"},
            "password": {"inline_bytes": "c2VjcmV0"}}]},
        "session_ticket_keys": {"keys": [{"inline_bytes": "a2V5"}]}}}
    listener = tcp_listener("tls", 1)
    listener["filter_chains"][0]["transport_socket"] = tls
    dump = by_type(config_dump(text([listener]), LOADED))
    for shown in (dump["BootstrapConfigDump"]["bootstrap"]["static_resources"]["listeners"][0],
                  dump["ListenersConfigDump"]["static_listeners"][0]["listener"]):
        context = shown["filter_chains"][0]["transport_socket"]["typed_config"]
        certificate = context["common_tls_context"]["tls_certificates"][0]
        assert certificate == {"certificate_chain": {"filename": "/c.pem"},
                               "private_key": {"inline_string": REDACTED},
                               "password": {"inline_bytes": "W3JlZGFjdGVkXQ=="}}  # b"[redacted]"
        assert context["session_ticket_keys"] == {"keys": [{"inline_bytes": "W3JlZGFjdGVkXQ=="}]}
    # Under a sensitive field a value that is not a string is not printed at all.
    assert redact({"secret": {"a": 1, "b": True, "c": "x", "@type": "t"}}) == \
        {"secret": {"c": REDACTED, "@type": "t"}}


def test_timestamps_as_envoy_prints_them():
    assert timestamp(1796563201.123) == "2026-12-06T13:20:01.123Z"
    assert timestamp(1796563201.0) == "2026-12-06T13:20:01Z"       # no fraction when it is zero
    assert timestamp(1796563201.0009) == "2026-12-06T13:20:01Z"     # milliseconds, truncated
    assert timestamp(LOADED) == LOADED
    assert config_dump(text(), 1796563201.5)["configs"][0]["last_updated"] == "2026-12-06T13:20:01.500Z"


# --- dynamic resources ----------------------------------------------------------------------------

T0, T1, T2 = 1796563201.25, 1796563202.5, 1796563203.0


def dynamic_setup():
    """A bootstrap with a static RDS listener and a static EDS cluster, and what xDS gave: the
    serving text composes the active dynamic listeners and clusters into static_resources."""
    static_listeners = [http_listener("static_rds", 1, rds="route_s")]
    static_clusters = [static_cluster("xds", 5), eds_cluster("static_eds", "static_svc")]
    listeners = {"dyn_rds": http_listener("dyn_rds", 2, rds="route_d"),
                 "dyn_inline": http_listener("dyn_inline", 3, routes("inline_dyn", "dyn_static"))}
    clusters = {"dyn_static": static_cluster("dyn_static", 7), "dyn_eds": eds_cluster("dyn_eds")}
    snapshot = {
        "listeners": listeners, "clusters": clusters,
        "routes": {"route_s": routes("route_s"), "route_d": routes("route_d")},
        "endpoints": {"dyn_eds": {"cluster_name": "dyn_eds", "endpoints": [{"lb_endpoints": [
                          {"endpoint": {"address": address(8)}}]}]},
                      "static_svc": {"cluster_name": "static_svc", "endpoints": [{"lb_endpoints": [
                          {"endpoint": {"address": address(6)}}]}]}},
        "versions": {"listeners": "l2", "clusters": "c2", "routes": "r1", "endpoints": "e1"},
        "resources": {"listeners": {"dyn_rds": ["l2", T1], "dyn_inline": ["l1", T0],
                                    "warm_rds": ["l2", T2], "warm_bare": ["l2", T2]},
                      "clusters": {"dyn_static": ["c1", T0], "dyn_eds": ["c1", T0],
                                   "warm_eds": ["c2", T2]},
                      "routes": {"route_s": ["r1", T0], "route_d": ["r1", T1]},
                      "endpoints": {"dyn_eds": ["e1", T0], "static_svc": ["e1", T0]}},
        "warming": {"listeners": ["warm_bare", "warm_rds"], "clusters": ["warm_eds"]},
        "warming_bodies": {"listeners": {"warm_rds": http_listener("warm_rds", 4, rds="never")},
                           "clusters": {"warm_eds": eds_cluster("warm_eds", "never")}},
    }
    serving = text([*static_listeners, *listeners.values()], [*static_clusters, *clusters.values()],
                   dynamic_resources={"ads_config": {"api_type": "GRPC"}, "lds_config": ADS, "cds_config": ADS})
    return serving, snapshot, static_listeners, static_clusters


def test_dynamic_resources_as_envoy_lists_them():
    serving, snapshot, static_listeners, static_clusters = dynamic_setup()
    dump = config_dump(serving, LOADED, snapshot)
    assert types(dump) == ["BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump",
                           "ScopedRoutesConfigDump", "RoutesConfigDump", "SecretsConfigDump"]
    configs = by_type(dump)
    # The bootstrap is the configured one: what xDS added is not in it.
    bootstrap = configs["BootstrapConfigDump"]["bootstrap"]
    assert bootstrap["static_resources"] == {"listeners": static_listeners, "clusters": static_clusters}
    assert "dynamic_resources" in bootstrap

    clusters = configs["ClustersConfigDump"]
    assert list(clusters) == ["@type", "version_info", "static_clusters", "dynamic_active_clusters",
                              "dynamic_warming_clusters"]
    assert clusters["version_info"] == "c2"
    assert names(clusters["static_clusters"], "cluster") == ["static_eds", "xds"]
    assert clusters["dynamic_active_clusters"][0] == {
        "version_info": "c1",
        "cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", **eds_cluster("dyn_eds")},
        "last_updated": "2026-12-06T13:20:01.250Z"}
    assert names(clusters["dynamic_active_clusters"], "cluster") == ["dyn_eds", "dyn_static"]
    assert [(c["version_info"], c["cluster"]["name"], c["last_updated"])
            for c in clusters["dynamic_warming_clusters"]] == [("c2", "warm_eds", "2026-12-06T13:20:03Z")]

    listeners = configs["ListenersConfigDump"]
    assert listeners["version_info"] == "l2"
    assert names(listeners["static_listeners"], "listener") == ["static_rds"]
    dynamic = listeners["dynamic_listeners"]
    assert [entry["name"] for entry in dynamic] == ["dyn_rds", "dyn_inline", "warm_bare", "warm_rds"]
    assert dynamic[0] == {"name": "dyn_rds", "active_state": {
        "version_info": "l2",
        "listener": {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                     **snapshot["listeners"]["dyn_rds"]},
        "last_updated": "2026-12-06T13:20:02.500Z"}}
    assert dynamic[3]["warming_state"]["listener"]["name"] == "warm_rds"
    # A warming listener hotproxy was not given the body of: its version and time only.
    assert dynamic[2] == {"name": "warm_bare", "warming_state": {
        "version_info": "l2", "last_updated": "2026-12-06T13:20:03Z"}}

    routes_dump = configs["RoutesConfigDump"]
    # An inline route_config of a dynamic listener is a static route config (as in Envoy), dated
    # by its listener.
    assert [(r["route_config"]["name"], r["last_updated"]) for r in routes_dump["static_route_configs"]] == \
        [("inline_dyn", "2026-12-06T13:20:01.250Z")]
    assert [(r["version_info"], r["route_config"]["name"]) for r in routes_dump["dynamic_route_configs"]] == \
        [("r1", "route_s"), ("r1", "route_d")]
    assert routes_dump["dynamic_route_configs"][0]["route_config"]["@type"] == \
        "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"


def test_an_update_warming_over_an_active_resource_shows_both():
    serving, snapshot, _, _ = dynamic_setup()
    snapshot["warming"] = {"listeners": ["dyn_rds"], "clusters": ["dyn_eds"]}
    snapshot["warming_bodies"] = {"listeners": {"dyn_rds": http_listener("dyn_rds", 9, rds="new")},
                                  "clusters": {"dyn_eds": eds_cluster("dyn_eds", "new")}}
    configs = by_type(config_dump(serving, LOADED, snapshot))
    entry = configs["ListenersConfigDump"]["dynamic_listeners"][0]
    assert list(entry) == ["name", "active_state", "warming_state"]
    assert entry["warming_state"]["listener"]["address"] == address(9)
    clusters = configs["ClustersConfigDump"]
    assert "dyn_eds" in names(clusters["dynamic_active_clusters"], "cluster")
    assert names(clusters["dynamic_warming_clusters"], "cluster") == ["dyn_eds"]


def test_include_eds_dumps_each_active_clusters_assignment():
    serving, snapshot, _, _ = dynamic_setup()
    dump = config_dump(serving, LOADED, snapshot, {"include_eds": ""})
    assert types(dump)[:4] == ["BootstrapConfigDump", "ClustersConfigDump", "EndpointsConfigDump",
                               "ListenersConfigDump"]
    endpoints = by_type(dump)["EndpointsConfigDump"]
    # A cluster's name, or its EDS service name; a cluster from CDS is dynamic whatever its type;
    # a warming cluster is not listed.
    assert [e["endpoint_config"]["cluster_name"] for e in endpoints["static_endpoint_configs"]] == \
        ["static_svc", "xds"]
    assert [e["endpoint_config"]["cluster_name"] for e in endpoints["dynamic_endpoint_configs"]] == \
        ["dyn_eds", "dyn_static"]
    assert all(list(e) == ["endpoint_config"] for e in endpoints["dynamic_endpoint_configs"])
    hosts = endpoints["static_endpoint_configs"][0]["endpoint_config"]["endpoints"][0]["lb_endpoints"]
    assert hosts[0]["endpoint"]["address"] == address(6)


def test_endpoint_config_is_shaped_as_envoy_prints_the_hosts():
    cluster = static_cluster("c2")
    cluster["load_assignment"] = {"cluster_name": "c2", "endpoints": [
        {"priority": 1, "locality": {"zone": "b"}, "lb_endpoints": [
            {"endpoint": {"address": address(3), "hostname": "h3",
                          "health_check_config": {"port_value": 99, "hostname": "hc"}},
             "metadata": {"filter_metadata": {"x": {"k": 1}}}}]},
        {"locality": {"zone": "a"}, "load_balancing_weight": 5,
         "lb_endpoints": [{"endpoint": {"address": address(1), "health_check_config": {"port_value": 1}}}]},
        {"locality": {"zone": "b"}, "lb_endpoints": [{"endpoint": {"address": address(2)},
                                                      "health_status": "DRAINING"}]},
        {"locality": {"zone": "a"}, "lb_endpoints": [{"endpoint": {"address": address(4)},
                                                      "load_balancing_weight": 3}]},
        {"locality": {"zone": "c"}, "lb_endpoints": []}],
        "policy": {"overprovisioning_factor": 200, "drop_overloads": [
            {"category": "x", "drop_percentage": {"numerator": 5, "denominator": "HUNDRED"}}]}}

    def host(port, **extra):
        return {"endpoint": {"address": address(port), "health_check_config": {}},
                "health_status": "HEALTHY", "load_balancing_weight": 1, **extra}

    assert endpoint_config(cluster, {}) == {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": "c2",
        "endpoints": [
            {"locality": {"zone": "a"}, "lb_endpoints": [host(1), host(4, load_balancing_weight=3)],
             "load_balancing_weight": 5},
            {"locality": {"zone": "b"}, "lb_endpoints": [host(2, health_status="UNHEALTHY")],
             "load_balancing_weight": 0},
            {"locality": {"zone": "b"}, "lb_endpoints": [{
                "endpoint": {"address": address(3), "health_check_config": {"port_value": 99, "hostname": "hc"},
                             "hostname": "h3"},
                "health_status": "HEALTHY", "metadata": {"filter_metadata": {"x": {"k": 1}}},
                "load_balancing_weight": 1}],
             "load_balancing_weight": 0, "priority": 1}],
        "policy": {"drop_overloads": [{"category": "x", "drop_percentage": {"numerator": 50000,
                                                                          "denominator": "MILLION"}}],
                   "overprovisioning_factor": 200}}
    # No hosts: the name and the policy only.
    assert endpoint_config(eds_cluster("e", "svc"), {}) == {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": "svc", "policy": {"overprovisioning_factor": 140}}


# --- ?resource= -----------------------------------------------------------------------------------

def test_resource_lists_each_element_with_its_type():
    dump = config_dump(STATIC, LOADED, query={"resource": "static_clusters"})
    assert [c["@type"] for c in dump["configs"]] == [ADMIN + "ClustersConfigDump.StaticCluster"] * 2
    assert [c["cluster"]["name"] for c in dump["configs"]] == ["backend", "dead"]
    assert config_dump(STATIC, LOADED, query={"resource": "static_route_configs"})["configs"][0]["@type"] == \
        ADMIN + "RoutesConfigDump.StaticRouteConfig"
    serving, snapshot, _, _ = dynamic_setup()
    for resource, element in (("dynamic_active_clusters", "ClustersConfigDump.DynamicCluster"),
                              ("dynamic_warming_clusters", "ClustersConfigDump.DynamicCluster"),
                              ("dynamic_listeners", "ListenersConfigDump.DynamicListener"),
                              ("dynamic_route_configs", "RoutesConfigDump.DynamicRouteConfig")):
        configs = config_dump(serving, LOADED, snapshot, {"resource": resource})["configs"]
        assert {c["@type"] for c in configs} == {ADMIN + element}
    configs = config_dump(serving, LOADED, snapshot, {"resource": "dynamic_endpoint_configs",
                                                      "include_eds": ""})["configs"]
    assert {c["@type"] for c in configs} == {ADMIN + "EndpointsConfigDump.DynamicEndpointConfig"}


def test_resource_with_nothing_in_it_is_an_empty_dump():
    # Envoy prints "{}": an empty ConfigDump, its empty "configs" left out.
    assert config_dump(STATIC, LOADED, query={"resource": "dynamic_active_clusters"}) == {}
    assert config_dump(STATIC, LOADED, query={"resource": "inline_scoped_route_configs"}) == {}
    assert config_dump(STATIC, LOADED, query={"resource": "static_secrets"}) == {}
    # ... and a mask is not looked at when there is nothing to apply it to.
    assert config_dump(STATIC, LOADED, query={"resource": "dynamic_listeners", "mask": "bogus"}) == {}


def test_resource_errors_are_envoys():
    assert refused({"resource": "bogus"}) == (404, "bogus not found in config dump")
    assert refused({"resource": "version_info"}) == \
        (400, "version_info is not a repeated field. Use ?mask=version_info to get only this field")
    assert refused({"resource": "bootstrap"}) == \
        (400, "bootstrap is not a repeated field. Use ?mask=bootstrap to get only this field")
    # Endpoints are dumped only with include_eds.
    assert refused({"resource": "static_endpoint_configs"}) == \
        (404, "static_endpoint_configs not found in config dump")
    # Without a connection manager there is no route dump to find the field in.
    assert refused({"resource": "static_route_configs"}, text([tcp_listener("t", 1)])) == \
        (404, "static_route_configs not found in config dump")


def test_an_empty_resource_or_mask_is_the_whole_dump():
    whole = config_dump(STATIC, LOADED)
    for query in ({"resource": ""}, {"mask": ""}, {"mask": ","}, {"name_regex": ""}):
        assert config_dump(STATIC, LOADED, query=query) == whole


# --- ?mask= ---------------------------------------------------------------------------------------

def test_mask_keeps_the_configs_it_applies_to():
    dump = config_dump(STATIC, LOADED, query={"mask": "static_clusters"})
    assert types(dump) == ["ClustersConfigDump"]
    assert set(dump["configs"][0]) == {"@type", "static_clusters"}
    # version_info is a field of the cluster and listener dumps, set or not.
    assert config_dump(STATIC, LOADED, query={"mask": "version_info"}) == {"configs": [
        {"@type": ADMIN + "ClustersConfigDump"}, {"@type": ADMIN + "ListenersConfigDump"}]}
    assert config_dump(STATIC, LOADED, query={"mask": "last_updated"}) == {"configs": [
        {"@type": ADMIN + "BootstrapConfigDump", "last_updated": LOADED}]}
    # Paths go into singular messages: bootstrap.admin is a Bootstrap field, unset here.
    assert config_dump(STATIC, LOADED, query={"mask": "bootstrap.node.id,bootstrap.admin"}) == {"configs": [
        {"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": "n1"}}}]}
    serving, snapshot, _, _ = dynamic_setup()
    # Every path must fit: the listener dump has no dynamic_warming_clusters.
    dump = config_dump(serving, LOADED, snapshot, {"mask": "version_info,dynamic_warming_clusters"})
    assert [list(config) for config in dump["configs"]] == [
        ["@type", "version_info", "dynamic_warming_clusters"]]


def test_a_mask_that_fits_no_config_is_refused():
    for mask in ("bogus", "static_clusters,static_listeners", "static_clusters.cluster.name",
                 "bootstrap.bogus", "last_updated.bogus"):
        assert refused({"mask": mask}) == \
            (400, f"FieldMask {mask} could not be successfully applied to any configs.")


def test_mask_with_resource_reaches_into_the_resource():
    dump = config_dump(STATIC, LOADED, query={"resource": "static_clusters", "mask": "cluster.name,last_updated"})
    assert dump["configs"][0] == {"@type": ADMIN + "ClustersConfigDump.StaticCluster",
                                  "cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                                              "name": "backend"},
                                  "last_updated": LOADED}
    dump = config_dump(STATIC, LOADED, query={"resource": "static_listeners",
                                              "mask": "listener.address.socket_address.port_value"})
    assert dump["configs"][1]["listener"] == {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                                              "address": {"socket_address": {"port_value": 1002}}}
    serving, snapshot, _, _ = dynamic_setup()
    dump = config_dump(serving, LOADED, snapshot, {"resource": "dynamic_listeners",
                                                   "mask": "name,active_state.version_info"})
    assert [c for c in dump["configs"]][:2] == [
        {"@type": ADMIN + "ListenersConfigDump.DynamicListener", "name": "dyn_rds",
         "active_state": {"version_info": "l2"}},
        {"@type": ADMIN + "ListenersConfigDump.DynamicListener", "name": "dyn_inline",
         "active_state": {"version_info": "l1"}}]
    assert dump["configs"][3] == {"@type": ADMIN + "ListenersConfigDump.DynamicListener", "name": "warm_rds"}


def test_a_mask_a_resource_cannot_take_is_refused():
    # The Any alone, a field the resource does not have, a path through a repeated field, and
    # (DynamicListener has no Any of its own) a path through a nested Any.
    assert refused({"resource": "static_clusters", "mask": "cluster"}) == \
        (400, 'FieldMask paths: "cluster"\n could not be successfully used.')
    assert refused({"resource": "static_clusters", "mask": "cluster.name,last_updated.bogus"}) == \
        (400, 'FieldMask paths: "cluster.name"\npaths: "last_updated.bogus"\n could not be successfully used.')
    assert refused({"resource": "static_clusters", "mask": "cluster.bogus"})[0] == 400
    assert refused({"resource": "static_listeners", "mask": "listener.filter_chains.filters"})[0] == 400
    serving, snapshot, _, _ = dynamic_setup()
    assert refused({"resource": "dynamic_listeners", "mask": "active_state.listener.name"}, serving, snapshot) == \
        (400, 'FieldMask paths: "active_state.listener.name"\n could not be successfully used.')


# --- ?name_regex= ---------------------------------------------------------------------------------

def test_name_regex_fully_matches_resource_names():
    configs = by_type(config_dump(STATIC, LOADED, query={"name_regex": "back.*"}))
    assert names(configs["ClustersConfigDump"]["static_clusters"], "cluster") == ["backend"]
    assert set(configs["ListenersConfigDump"]) == {"@type"}
    assert set(configs["RoutesConfigDump"]) == {"@type"}
    assert configs["BootstrapConfigDump"]["bootstrap"] == json.loads(STATIC)   # untouched
    # RE2 full match: a part of a name is not a match.
    configs = by_type(config_dump(STATIC, LOADED, query={"name_regex": "ack"}))
    assert set(configs["ClustersConfigDump"]) == {"@type"}
    configs = by_type(config_dump(STATIC, LOADED, query={"name_regex": "local|tcp"}))
    assert names(configs["ListenersConfigDump"]["static_listeners"], "listener") == ["tcp"]
    assert names(configs["RoutesConfigDump"]["static_route_configs"], "route_config") == ["local"]


def test_name_regex_on_dynamic_resources_and_endpoints():
    serving, snapshot, _, _ = dynamic_setup()
    configs = by_type(config_dump(serving, LOADED, snapshot, {"name_regex": "dyn.*", "include_eds": ""}))
    assert set(configs["ClustersConfigDump"]) == {"@type", "version_info", "dynamic_active_clusters"}
    assert [e["name"] for e in configs["ListenersConfigDump"]["dynamic_listeners"]] == ["dyn_rds", "dyn_inline"]
    assert set(configs["RoutesConfigDump"]) == {"@type"}            # route_s, route_d, inline_dyn
    endpoints = configs["EndpointsConfigDump"]
    assert set(endpoints) == {"@type", "dynamic_endpoint_configs"}
    # Endpoints are matched by their cluster_name: the EDS service name.
    configs = by_type(config_dump(serving, LOADED, snapshot, {"name_regex": "static_svc", "include_eds": ""}))
    assert [e["endpoint_config"]["cluster_name"]
            for e in configs["EndpointsConfigDump"]["static_endpoint_configs"]] == ["static_svc"]
    assert set(configs["ClustersConfigDump"]) == {"@type", "version_info"}


def test_a_bad_name_regex_is_refused_before_anything_else():
    status, message = refused({"name_regex": "(", "resource": "bogus"})
    assert status == 400
    assert message.startswith("INVALID_ARGUMENT: Error while parsing name_regex from (: ")
    assert refused({"name_regex": "(?=a)"})[1].startswith(
        "INVALID_ARGUMENT: Error while parsing name_regex from (?=a): ")   # RE2 has no lookahead


# --- the dump messages and the handler ------------------------------------------------------------

def test_fields_table_is_envoys_messages():
    descriptor_pool = pytest.importorskip("google.protobuf.descriptor_pool")
    pytest.importorskip("envoy.admin.v3.config_dump_pb2")
    pytest.importorskip("envoy.config.route.v3.scoped_route_pb2")
    pool = descriptor_pool.Default()
    for message, fields in FIELDS.items():
        descriptor = pool.FindMessageTypeByName(f"envoy.admin.v3.{message}")
        assert [field.name for field in descriptor.fields] == list(fields)
        for field in descriptor.fields:
            element = fields[field.name]
            if element is not None:
                assert field.message_type.full_name == f"envoy.admin.v3.{element}"


class FakeServer:
    def __init__(self, config_text, dynamic=None):
        self._config = (config_text, LOADED)
        if dynamic is not None:
            self.dynamic_config = lambda: dynamic

    def config(self):
        return self._config


def get(server, query=""):
    router = AdminRouter()
    router.register(build_endpoints(server, lambda: ""))
    return router.handle(Request("GET", "/config_dump", query))


def test_handler_passes_the_query_and_the_xds_snapshot():
    response = get(FakeServer(STATIC), "resource=static_listeners&mask=listener.name")
    assert (response.status, response.content_type) == (200, "application/json")
    assert response.body.decode().endswith("}\n")
    assert [c["listener"]["name"] for c in json.loads(response.body)["configs"]] == ["http", "tcp"]
    response = get(FakeServer(STATIC), "resource=bogus")
    assert (response.status, response.content_type, response.body) == \
        (404, "text/plain", b"bogus not found in config dump")
    assert get(FakeServer(STATIC), "mask=bogus").status == 400
    serving, snapshot, _, _ = dynamic_setup()
    response = get(FakeServer(serving, snapshot), "resource=dynamic_active_clusters&mask=cluster.name")
    assert [c["cluster"]["name"] for c in json.loads(response.body)["configs"]] == ["dyn_eds", "dyn_static"]
    assert json.loads(get(FakeServer(STATIC), "resource=dynamic_active_clusters").body) == {}
