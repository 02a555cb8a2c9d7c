"""How upstream connections are established beyond TLS, through real processes: the upstream PROXY
protocol transport socket (v1 and v2, around plain text or TLS, from the HTTP router and the TCP
proxy), and ``transport_socket_matches`` choosing each endpoint's transport by its metadata."""
from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest
from certs import CA

from harness import TCP_PROXY_TYPE, RawClient, accept_each, admin_stats, http_listener, simple_routes, to_yaml
from hotproxy.listener.filters.proxy_protocol import parse
from tls_harness import tls_certificate, upstream_tls

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
PROXY_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport"
RAW_BUFFER = {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}


def proxy_protocol_socket(version, inner=RAW_BUFFER):
    return {"name": "envoy.transport_sockets.upstream_proxy_protocol", "typed_config": {
        "@type": PROXY_TYPE, "config": {"version": version}, "transport_socket": inner}}


class ProxiedUpstream:
    """An upstream behind a PROXY-protocol-speaking proxy: each connection starts with a header
    (recorded in ``headers``: the parsed ProxyHeader, or the bytes when they are none), then, over
    TLS when ``tls_context`` is given, HTTP/1.1 keep-alive answered ``200`` with the body
    ``<connection number> <path>``. ``raw`` mode answers nothing and echoes (for the TCP proxy)."""

    def __init__(self, tls_context=None, echo=False):
        self.headers = []
        self.tls_context = tls_context
        self.echo = echo
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._serve)

    def _serve(self, conn):
        conn.settimeout(10)
        seen = 0
        while True:     # peeked, so that what follows the header stays for TLS to read
            data = conn.recv(4096, socket.MSG_PEEK)
            header = parse(data)
            if not hasattr(header, "at_least"):
                break
            if len(data) == seen:
                if not data:
                    return
                time.sleep(0.01)
            seen = len(data)
        with self._lock:
            self.headers.append(header if not isinstance(header, str) else data)
            number = len(self.headers)
        if not isinstance(header, str):
            conn.recv(header.length)
        rest = b""
        if self.tls_context is not None:
            conn = self.tls_context.wrap_socket(conn, server_side=True)
        with conn:
            if self.echo:
                while rest or (rest := conn.recv(4096)):
                    conn.sendall(rest)
                    rest = b""
                return
            while True:
                while b"\r\n\r\n" not in rest:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    rest += chunk
                head, rest = rest.split(b"\r\n\r\n", 1)
                body = b"%d %s" % (number, head.split(b" ")[1])
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))

    def stop(self):
        self.sock.close()


@pytest.fixture
def proxied_upstreams():
    started = []

    def start(**kwargs):
        started.append(ProxiedUpstream(**kwargs))
        return started[-1]

    yield start
    for upstream in started:
        upstream.stop()


def endpoint(port, labels=None):
    lb_endpoint = {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
    if labels is not None:
        lb_endpoint["metadata"] = {"filter_metadata": {"envoy.transport_socket_match": labels}}
    return lb_endpoint


def cluster(endpoints, **extra):
    return {"name": "up", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": "up", "endpoints": [{"lb_endpoints": endpoints}]}, **extra}


def http_config(up):
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "up"}})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", routes)], "clusters": [up]}})


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_each_downstream_connection_is_announced_on_upstream_connections_of_its_own(
        proxy_factory, proxied_upstreams, version):
    upstream = proxied_upstreams()
    proxy = proxy_factory(http_config(cluster([endpoint(upstream.port)],
                                              transport_socket=proxy_protocol_socket(version))),
                          extra_args=["--concurrency", "1"])
    first, second = RawClient(proxy.port("listen")), RawClient(proxy.port("listen"))
    assert first.request(path="/a").body == b"1 /a"
    assert second.request(path="/b").body == b"2 /b"
    assert first.request(path="/c").body == b"1 /c"       # its own connection, reused
    announced = [(header.version, header.source, header.destination) for header in upstream.headers]
    listener = ("127.0.0.1", proxy.port("listen"))
    assert announced == [(int(version[1]), first.sock.getsockname(), listener),
                         (int(version[1]), second.sock.getsockname(), listener)]


def test_the_tcp_proxy_announces_the_downstream_connection(proxy_factory, proxied_upstreams):
    upstream = proxied_upstreams(echo=True)
    text = to_yaml({"static_resources": {
        "listeners": [{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1",
                                                                     "port_value": "{port:listen}"}},
                       "filter_chains": [{"filters": [{"name": "tcp", "typed_config": {
                           "@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "up"}}]}]}],
        "clusters": [cluster([endpoint(upstream.port)], transport_socket=proxy_protocol_socket("V1"))]}})
    proxy = proxy_factory(text)
    client = socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=10)
    client.sendall(b"hello")
    assert client.recv(100) == b"hello"
    ours = [header for header in upstream.headers if header.source == client.getsockname()]
    client.close()
    # (the harness's own readiness probes connect too, each announced with its own address)
    assert [header.destination for header in ours] == [("127.0.0.1", proxy.port("listen"))]


def test_the_header_comes_before_the_tls_handshake(proxy_factory, proxied_upstreams, tmp_path):
    ca = CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*ca.issue("up", dns=["up.example.com"]).write(tmp_path, "up"))
    upstream = proxied_upstreams(tls_context=context)
    inner = upstream_tls(ca, sni="up.example.com")
    proxy = proxy_factory(http_config(cluster([endpoint(upstream.port)],
                                              transport_socket=proxy_protocol_socket("V2", inner))))
    client = RawClient(proxy.port("listen"))
    assert client.request(path="/secure").body == b"1 /secure"
    assert upstream.headers[0].source == client.sock.getsockname()
    assert admin_stats(proxy.port("admin"), "cluster.up.ssl")["cluster.up.ssl.handshake"] == 1


def test_transport_socket_matches_choose_each_endpoints_transport(proxy_factory, proxied_upstreams, tmp_path):
    ca = CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*ca.issue("up").write(tmp_path, "up"))
    tls_upstream = proxied_upstreams(tls_context=context)
    plain_upstream = proxied_upstreams()
    matches = [{"name": "tls", "match": {"tls": True, "tier": "inner"},
                "transport_socket": proxy_protocol_socket("V1", upstream_tls(ca))},
               {"name": "proxied", "match": {"tier": "legacy"}, "transport_socket": proxy_protocol_socket("V2")}]
    up = cluster([endpoint(tls_upstream.port, {"tls": True, "tier": "inner", "zone": "a"}),
                  endpoint(plain_upstream.port, {"tier": "legacy", "tls": 1})],
                 transport_socket_matches=matches, lb_policy="ROUND_ROBIN")
    proxy = proxy_factory(http_config(up), extra_args=["--concurrency", "1"])
    client = RawClient(proxy.port("listen"))
    bodies = {client.request(path=f"/{i}").body for i in range(4)}
    assert bodies == {b"1 /0", b"1 /1", b"1 /2", b"1 /3"}     # one connection to each, each kept
    assert (len(tls_upstream.headers), len(plain_upstream.headers)) == (1, 1)
    assert tls_upstream.headers[0].version == 1 and plain_upstream.headers[0].version == 2
    counted = admin_stats(proxy.port("admin"), "cluster.up.")
    assert counted["cluster.up.tls.total_match_count"] == 1
    assert counted["cluster.up.proxied.total_match_count"] == 1    # "tls": 1 is no match for true
    assert counted["cluster.up.default.total_match_count"] == 0
    assert counted["cluster.up.ssl.handshake"] == 1


def test_an_endpoint_no_match_holds_for_gets_the_clusters_own_transport(proxy_factory, proxied_upstreams):
    proxied = proxied_upstreams()
    up = cluster([endpoint(proxied.port, {"other": "x"})], transport_socket=proxy_protocol_socket("V1"),
                 transport_socket_matches=[{"name": "never", "match": {"other": "y"},
                                            "transport_socket": RAW_BUFFER}])
    proxy = proxy_factory(http_config(up), extra_args=["--concurrency", "1"])  # counted per worker
    assert RawClient(proxy.port("listen")).request(path="/x").status == 200
    assert len(proxied.headers) == 1
    counted = admin_stats(proxy.port("admin"), "cluster.up.")
    assert (counted["cluster.up.default.total_match_count"], counted["cluster.up.never.total_match_count"]) == (1, 0)


def test_a_client_certificate_in_a_match_reaches_the_upstream(proxy_factory, proxied_upstreams, tmp_path):
    ca = CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*ca.issue("up").write(tmp_path, "up"))
    context.load_verify_locations(cadata=ca.pem.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    upstream = proxied_upstreams(tls_context=context)
    inner = upstream_tls(ca)
    inner["typed_config"]["common_tls_context"]["tls_certificates"] = [tls_certificate(ca.issue("edge", client=True))]
    up = cluster([endpoint(upstream.port, {"mtls": True})], transport_socket_matches=[
        {"name": "mtls", "match": {"mtls": True}, "transport_socket": proxy_protocol_socket("V1", inner)}])
    proxy = proxy_factory(http_config(up))
    assert RawClient(proxy.port("listen")).request(path="/m").body == b"1 /m"


PROXY_PROTOCOL_FILTER = {"name": "envoy.filters.listener.proxy_protocol", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"}}


@pytest.mark.parametrize("terminal", ["http", "tcp"])
def test_an_announced_connection_is_announced_on_as_it_came(peer_factory, proxied_upstreams, terminal):
    """A connection that came in with a PROXY header of its own is announced upstream with that
    header's source and destination, as Envoy restores both."""
    upstream = proxied_upstreams(echo=terminal == "tcp")
    if terminal == "http":
        listener = http_listener("in", "listen", simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "up"}}))
    else:
        listener = {"name": "in", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                    "filter_chains": [{"filters": [{"name": "tcp", "typed_config": {
                        "@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "up"}}]}]}
    listener["listener_filters"] = [PROXY_PROTOCOL_FILTER]
    peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener],
        "clusters": [cluster([endpoint(upstream.port)], transport_socket=proxy_protocol_socket("V1"))]}}))
    client = socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=10)
    client.sendall(b"PROXY TCP4 10.1.2.3 10.9.8.7 1111 2222\r\n")
    if terminal == "http":
        client.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
    else:
        client.sendall(b"hello")
        assert client.recv(100) == b"hello"
    client.close()
    announced = [(h.source, h.destination) for h in upstream.headers if h.source == ("10.1.2.3", 1111)]
    assert announced == [(("10.1.2.3", 1111), ("10.9.8.7", 2222))]
