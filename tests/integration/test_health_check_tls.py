"""Active health checks of a cluster with a transport socket go over it, as Envoy's do: over
mutual TLS to a host that requires a client certificate, and over the transport socket match that
``transport_socket_match_criteria`` names. Each test against hotproxy and Envoy 1.40 on the same
config; what they agree on is the hosts' health flags in /clusters."""
import urllib.request

import pytest
from certs import CA

from harness import Upstream, http_listener, simple_routes, to_yaml
from test_health_outlier_interplay import wait_for
from tls_harness import TlsUpstream, upstream_tls

RAW_BUFFER = {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture
def hosts(ca, tmp_path):
    """A host that speaks TLS only and requires a client certificate of ``ca``, and a plain one."""
    secure = TlsUpstream(ca.issue("secure", dns=["secure.test"]), client_ca=ca, tmp_path=tmp_path)
    plain = Upstream()
    yield secure, plain
    secure.stop()
    plain.stop()


def config(ca, secure, plain, criteria=None):
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": u.port}}}}
                 for u in (secure, plain)]
    check = {"timeout": "1s", "interval": "0.3s", "no_traffic_interval": "0.3s", "unhealthy_threshold": 1,
             "healthy_threshold": 1, "http_health_check": {"path": "/echo"}}
    cluster = {"name": "backend", "type": "STATIC", "connect_timeout": "1s",
               "transport_socket": upstream_tls(ca, client=ca.issue("proxy", client=True, server=False),
                                                sni="secure.test"),
               "health_checks": [check],
               "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": endpoints}]}}
    if criteria is not None:
        check["transport_socket_match_criteria"] = criteria
        cluster["transport_socket_matches"] = [{"name": "plain", "match": {"plain": True},
                                                "transport_socket": RAW_BUFFER}]
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("http", "listen", routes)], "clusters": [cluster]}})


def flags(peer):
    """Each host's health_flags, by port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{peer.port('admin')}/clusters", timeout=10) as response:
        found = {}
        for line in response.read().decode().splitlines():
            name, _, rest = line.partition("::")
            if name == "backend" and "::health_flags::" in rest:
                address, _, value = rest.partition("::health_flags::")
                found[int(address.rpartition(":")[2])] = value
        return found


def test_checks_go_over_the_clusters_mutual_tls(peer_factory, ca, hosts):
    secure, plain = hosts
    peer = peer_factory(config(ca, secure, plain))
    wait_for(lambda: flags(peer) == {secure.port: "healthy", plain.port: "/failed_active_hc"}, 10,
             "the TLS host healthy, the plain one failing its handshakes")
    assert secure.handshakes >= 1
    assert not plain.requests       # a TLS ClientHello is no HTTP request


def test_the_match_criteria_choose_the_transport_of_the_checks(peer_factory, ca, hosts):
    secure, plain = hosts
    peer = peer_factory(config(ca, secure, plain, criteria={"plain": True}))
    wait_for(lambda: flags(peer) == {secure.port: "/failed_active_hc", plain.port: "healthy"}, 10,
             "checks in plain text: the plain host passing, the TLS one failing")
    assert any(request["path"] == "/echo" for request in plain.requests)
