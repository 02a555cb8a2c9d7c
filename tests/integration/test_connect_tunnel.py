"""CONNECT through a real hotproxy, held to the Envoy 1.40 binary (both run the same config):
a connect_matcher route with connect_config tunnels the bytes to its cluster, other CONNECTs get
Envoy's 403/404, and a CONNECT enabled without connect_config goes to the HTTP upstream."""
import socket
import time

import pytest

from harness import accept_each, to_yaml

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


@pytest.fixture
def tcp_echo():
    """Answers each read with ``echo:`` and the bytes read; a CONNECT head gets a 200 first."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def handle(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                if data.startswith(b"CONNECT "):
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\nx-from: upstream\r\n\r\n")
                    continue
                conn.sendall(b"echo:" + data)

    accept_each(server, handle)
    yield server.getsockname()[1]
    server.close()


def connect_config(port, hcm_upgrades=(), connect_routes=True):
    routes = [
        {"match": {"connect_matcher": {}, "headers": [{"name": ":authority", "string_match": {"exact": "blocked:1"}}]},
         "direct_response": {"status": 403}},
        {"match": {"connect_matcher": {}, "headers": [{"name": ":authority", "string_match": {"exact": "off:1"}}]},
         "route": {"cluster": "tcp"}},
        {"match": {"connect_matcher": {}, "headers": [{"name": ":authority", "string_match": {"exact": "forward:1"}}]},
         "route": {"cluster": "tcp", "upgrade_configs": [{"upgrade_type": "CONNECT"}]}},
        {"match": {"connect_matcher": {}},
         "route": {"cluster": "tcp", "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}]}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "plain"}}}]
    if not connect_routes:
        routes = routes[-1:]
    hcm = {"@type": HCM_TYPE, "stat_prefix": "connect", "http_filters": [ROUTER],
           "upgrade_configs": list(hcm_upgrades),
           "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": routes}]}}
    listener = {"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    cluster = {"name": "tcp", "connect_timeout": "1s", "load_assignment": {"cluster_name": "tcp", "endpoints": [
        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [listener], "clusters": [cluster]}})


def exchange(port, authority, then=b""):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority))
        time.sleep(0.3)
        if then:
            sock.sendall(then)
            time.sleep(0.3)
        sock.settimeout(0.5)
        received = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except (socket.timeout, ConnectionResetError):
            pass
        return received


def test_a_terminated_connect_tunnels_to_the_cluster(peer_factory, tcp_echo):
    peer = peer_factory(connect_config(tcp_echo))
    received = exchange(peer.port("listen"), b"example.com:443", b"hello")
    head, _, rest = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert [line.split(b":")[0] for line in lines[1:]] == [b"date", b"server"]
    assert rest == b"echo:hello"


@pytest.mark.parametrize("authority, status", [(b"blocked:1", b"403"), (b"off:1", b"403")])
def test_connects_the_route_does_not_enable_are_refused(peer_factory, tcp_echo, authority, status):
    peer = peer_factory(connect_config(tcp_echo))
    assert exchange(peer.port("listen"), authority).startswith(b"HTTP/1.1 %s " % status)


def test_a_connect_no_connect_route_takes_is_404(peer_factory, tcp_echo):
    peer = peer_factory(connect_config(tcp_echo, connect_routes=False))
    assert exchange(peer.port("listen"), b"example.com:443").startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_a_connect_enabled_without_connect_config_goes_to_the_upstream(peer_factory, tcp_echo):
    peer = peer_factory(connect_config(tcp_echo))
    received = exchange(peer.port("listen"), b"forward:1", b"hello")
    assert received.startswith(b"HTTP/1.1 200 Connection Established\r\n") or received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"x-from: upstream" in received and received.endswith(b"echo:hello")
