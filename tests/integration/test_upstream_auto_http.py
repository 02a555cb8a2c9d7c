"""auto_config (HttpProtocolOptions.AutoHttpConfig) through a real hotproxy: over TLS the proxy
offers h2 and http/1.1 by ALPN and each connection speaks what the upstream chose (Envoy's mixed
pool). An h2 connection carries concurrent requests; an http/1.1 one carries one at a time and is
kept alive. The connection limits of common_http_protocol_options (max_requests_per_connection,
idle_timeout, max_connection_duration) as the upstream sees them: connections opened and closed."""
import json
import socket
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

from alpn_upstream import AlpnUpstream
from certs import CA
from harness import HOTPROXY, admin_stats, http_listener, simple_routes, static_cluster, to_yaml
from tls_harness import upstream_tls

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
OPTIONS_TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def protocol_options(common=None, **choice):
    options = {"@type": OPTIONS_TYPE, **(choice or {"auto_config": {}})}
    if common:
        options["common_http_protocol_options"] = common
    return {"typed_extension_protocol_options": {OPTIONS_KEY: options}}


def config(port, cluster_extra):
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("listen", "listen", simple_routes(
            {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}),
            {"upgrade_configs": [{"upgrade_type": "websocket"}]})],
        "clusters": [static_cluster("backend", port, connect_timeout="5s", extra=cluster_extra)]}})


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def start(proxy_factory, servers, ca, tmp_path):
    def start_both(alpn=("h2", "http/1.1"), tls=True, common=None, cluster_extra=None, **choice):
        server = AlpnUpstream(ca.issue("up", dns=["up.example.com"]) if tls else None, tmp_path, alpn)
        servers.append(server)
        extra = {**protocol_options(common, **choice), **(cluster_extra or {})}
        if tls:
            extra["transport_socket"] = upstream_tls(ca)
        proxy = proxy_factory(config(server.port, extra), extra_args=["--concurrency", "1"])
        return server, proxy
    return start_both


def get(port, path="/"):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{error.code}: {error.read()!r}") from None


def stats(proxy):
    return admin_stats(proxy.port("admin"), "cluster.backend")


def test_auto_config_speaks_h2_when_the_upstream_offers_it(start):
    server, proxy = start()
    answers = [get(proxy.port("listen"), f"/a{i}") for i in range(3)]
    assert [(status, seen["proto"], seen["conn"]) for status, seen in answers] == [(200, "h2", 1)] * 3
    assert server.protocols == ["h2"]
    assert stats(proxy)["cluster.backend.upstream_cx_http2_total"] == 1


def test_auto_config_speaks_http1_when_the_upstream_offers_only_that(start):
    server, proxy = start(alpn=("http/1.1",))
    answers = [get(proxy.port("listen"), f"/b{i}") for i in range(3)]
    # one kept-alive connection, not one per request
    assert [(status, seen["proto"], seen["conn"]) for status, seen in answers] == [(200, "http/1.1", 1)] * 3
    assert server.protocols == ["http/1.1"]
    counted = stats(proxy)
    assert counted["cluster.backend.upstream_cx_http2_total"] == 0
    assert counted["cluster.backend.upstream_cx_total"] == 1
    assert counted["cluster.backend.upstream_rq_total"] == 3


def _concurrently(port, count):
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(port, "/slow"))) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_requests_share_one_h2_connection(start):
    server, proxy = start()
    get(proxy.port("listen"), "/warm")     # the host's protocol is known: one connection
    results = _concurrently(proxy.port("listen"), 6)
    assert sorted(seen["conn"] for _, seen in results) == [1] * 6
    assert server.accepted == 1 and server.most_streams > 1


def test_concurrent_requests_over_http1_take_a_connection_each(start):
    server, proxy = start(alpn=("http/1.1",))
    get(proxy.port("listen"), "/warm")
    results = _concurrently(proxy.port("listen"), 4)
    assert all(seen["proto"] == "http/1.1" for _, seen in results)
    assert len({seen["conn"] for _, seen in results}) == 4    # one request at a time on each
    assert server.most_streams == 0


@pytest.mark.parametrize("alpn", [("h2", "http/1.1"), ("http/1.1",)], ids=["h2", "http1"])
def test_max_requests_per_connection_retires_connections(start, alpn):
    server, proxy = start(alpn=alpn, common={"max_requests_per_connection": 2})
    answers = [get(proxy.port("listen"), f"/r{i}")[1]["conn"] for i in range(6)]
    assert answers == [1, 1, 2, 2, 3, 3]
    assert server.wait_closed(3) >= 3
    assert stats(proxy)["cluster.backend.upstream_cx_max_requests"] == 3


def test_max_requests_per_connection_on_a_plain_http1_cluster(start):
    """pool.py's connections, through the deprecated cluster-level field."""
    server, proxy = start(tls=False, explicit_http_config={"http_protocol_options": {}},
                          cluster_extra={"max_requests_per_connection": 2})
    answers = [get(proxy.port("listen"), f"/p{i}")[1]["conn"] for i in range(5)]
    assert answers == [1, 1, 2, 2, 3]
    assert server.wait_closed(2) >= 2
    assert stats(proxy)["cluster.backend.upstream_cx_max_requests"] == 2


@pytest.mark.parametrize("tls,alpn", [(True, ("h2",)), (True, ("http/1.1",)), (False, None)],
                         ids=["h2", "http1-auto", "http1-plain"])
def test_idle_timeout_closes_idle_connections(start, tls, alpn):
    choice = {} if tls else {"explicit_http_config": {"http_protocol_options": {}}}
    server, proxy = start(alpn=alpn, tls=tls, common={"idle_timeout": "0.3s"}, **choice)
    assert get(proxy.port("listen"))[0] == 200
    assert server.wait_closed(1) == 1     # closed by the proxy, without another request
    counted = stats(proxy)
    assert counted["cluster.backend.upstream_cx_idle_timeout"] == 1
    assert counted["cluster.backend.upstream_cx_destroy"] == 1
    assert get(proxy.port("listen"))[1]["conn"] == 2


@pytest.mark.parametrize("tls,alpn", [(True, ("h2",)), (True, ("http/1.1",)), (False, None)],
                         ids=["h2", "http1-auto", "http1-plain"])
def test_max_connection_duration_drains_old_connections(start, tls, alpn):
    choice = {} if tls else {"explicit_http_config": {"http_protocol_options": {}}}
    server, proxy = start(alpn=alpn, tls=tls, common={"max_connection_duration": "0.3s"}, **choice)
    assert get(proxy.port("listen"))[1]["conn"] == 1
    assert server.wait_closed(1) == 1
    assert stats(proxy)["cluster.backend.upstream_cx_max_duration_reached"] == 1
    assert get(proxy.port("listen"))[1]["conn"] == 2


def test_an_unset_idle_timeout_keeps_connections(start):
    server, proxy = start(alpn=("http/1.1",))
    assert [get(proxy.port("listen"))[1]["conn"] for _ in range(2)] == [1, 1]
    assert server.closed == 0
    assert stats(proxy)["cluster.backend.upstream_cx_idle_timeout"] == 0


def test_a_websocket_upgrade_over_an_http1_connection(start):
    """The router sends an upgrade to an auto_config cluster as an extended CONNECT; over an
    http/1.1 connection it goes as the Upgrade request and the 101 opens the tunnel."""
    server, proxy = start(alpn=("http/1.1",))
    with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=10) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101") and b"x-conn: 1" in head.lower()
        sock.sendall(b"ping")
        echoed = rest
        while len(echoed) < 4:
            echoed += sock.recv(4096)
        assert echoed == b"ping"
    assert server.protocols == ["http/1.1"]


def test_auto_config_needs_a_tls_transport_socket(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(config(1, protocol_options()).replace("{port:admin}", "0").replace("{port:listen}", "0"))
    result = subprocess.run(HOTPROXY + ["--mode", "validate", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert ("static_resources.clusters[0].typed_extension_protocol_options: ALPN configured for "
            "cluster backend which has a non-ALPN transport socket") in result.stdout + result.stderr


# --- the same against Envoy 1.40 (peer_factory runs each test on hotproxy, then on Envoy) ------

@pytest.fixture
def peer_with(peer_factory, servers, ca, tmp_path):
    def start_peer(alpn, common=None):
        server = AlpnUpstream(ca.issue("up", dns=["up.example.com"]), tmp_path, alpn)
        servers.append(server)
        extra = {**protocol_options(common), "transport_socket": upstream_tls(ca)}
        return server, peer_factory(config(server.port, extra))
    return start_peer


@pytest.mark.parametrize("alpn,protocol", [(("h2", "http/1.1"), "h2"), (("http/1.1",), "http/1.1")],
                         ids=["h2", "http1"])
def test_peers_choose_the_same_protocol_and_retire_alike(peer_with, alpn, protocol):
    server, peer = peer_with(alpn, {"max_requests_per_connection": 2})
    answers = [get(peer.port("listen"), f"/d{i}")[1] for i in range(4)]
    assert [(seen["proto"], seen["conn"]) for seen in answers] == [(protocol, 1), (protocol, 1),
                                                                   (protocol, 2), (protocol, 2)]
    assert server.wait_closed(2) >= 2
    assert peer.counter("cluster.backend.upstream_cx_max_requests") == 2
    assert peer.counter("cluster.backend.upstream_cx_http2_total") == (2 if protocol == "h2" else 0)


def test_peers_close_idle_connections_alike(peer_with):
    server, peer = peer_with(("http/1.1",), {"idle_timeout": "0.3s"})
    assert get(peer.port("listen"))[1]["conn"] == 1
    assert server.wait_closed(1) == 1
    assert peer.counter("cluster.backend.upstream_cx_idle_timeout") == 1
