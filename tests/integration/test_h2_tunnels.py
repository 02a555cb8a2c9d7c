"""Tunnels on HTTP/2 streams, against hotproxy and Envoy 1.40 on the same config: an extended
CONNECT (RFC 8441) becomes an HTTP/1.1 WebSocket upgrade upstream and a 200 for the client, a
CONNECT with connect_config is a TCP tunnel to the cluster, and DATA carries the bytes."""
import socket

import pytest

from h2_frames import DATA, HEADERS, H2Client, data
from harness import accept_each, to_yaml

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


@pytest.fixture
def upgrading_upstream():
    """Answers an HTTP/1.1 upgrade request with a 101, then echoes; a raw TCP client (no HTTP
    head) is echoed at once. ``requests`` holds the request heads."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    requests = []

    def handle(conn):
        with conn:
            first = conn.recv(65536)
            if first.startswith(b"GET "):
                while b"\r\n\r\n" not in first:
                    first += conn.recv(65536)
                requests.append(first.split(b"\r\n\r\n")[0])
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: abc=\r\nX-Up: 1\r\n\r\n")
            elif first:
                conn.sendall(b"echo:" + first)
            while True:
                got = conn.recv(65536)
                if not got:
                    return
                conn.sendall(b"echo:" + got)

    accept_each(server, handle)
    yield server.getsockname()[1], requests
    server.close()


def tunnel_config(port, upgrades=({"upgrade_type": "websocket"},)):
    routes = [{"match": {"connect_matcher": {}},
               "route": {"cluster": "up", "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}]}},
              {"match": {"prefix": "/"}, "route": {"cluster": "up"}}]
    hcm = {"@type": HCM_TYPE, "stat_prefix": "tunnels", "http_filters": [ROUTER],
           "upgrade_configs": list(upgrades), "http2_protocol_options": {"allow_connect": True},
           "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": routes}]}}
    listener = {"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    cluster = {"name": "up", "connect_timeout": "1s", "load_assignment": {"cluster_name": "up", "endpoints": [
        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [listener], "clusters": [cluster]}})


EXTENDED = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/chat"),
            (":authority", "example.com"), ("sec-websocket-version", "13")]
CONNECT = [(":method", "CONNECT"), (":authority", "example.com:443")]


def open_stream(port, headers):
    client = H2Client(port)
    client.send(client.headers(1, headers, end_stream=False))
    frames, _ = client.outcome(timeout=1.0, until=lambda f: f.type == HEADERS)
    heads = [client.decoder.decode(f.payload) for f in frames if f.type == HEADERS]
    return client, heads[0] if heads else None


def echo(client, payload):
    client.send(data(1, payload))
    frames, _ = client.outcome(timeout=1.0, until=lambda f: f.type == DATA and f.payload)
    return b"".join(f.payload for f in frames if f.type == DATA)


def test_an_extended_connect_is_a_websocket_upgrade_upstream(peer_factory, upgrading_upstream):
    port, requests = upgrading_upstream
    peer = peer_factory(tunnel_config(port))
    client, head = open_stream(peer.port("listen"), EXTENDED)
    try:
        assert head[0] == (":status", "200")
        names = [name for name, _ in head[1:]]
        assert "upgrade" not in names and "connection" not in names
        assert ("sec-websocket-accept", "abc=") in head and ("server", "envoy") in head
        assert echo(client, b"hello") == b"echo:hello"
    finally:
        client.close()
    lines = requests[0].split(b"\r\n")
    assert lines[0] == b"GET /chat HTTP/1.1"
    names = [line.split(b":")[0] for line in lines[1:]]
    assert names[:5] == [b"host", b"sec-websocket-version", b"upgrade", b"connection", b"x-forwarded-proto"]


def test_an_extended_connect_for_an_upgrade_not_configured_is_403(peer_factory, upgrading_upstream):
    peer = peer_factory(tunnel_config(upgrading_upstream[0], upgrades=()))
    client, head = open_stream(peer.port("listen"), EXTENDED)
    client.close()
    assert head[0] == (":status", "403")


def test_a_connect_with_connect_config_is_a_tcp_tunnel(peer_factory, upgrading_upstream):
    peer = peer_factory(tunnel_config(upgrading_upstream[0]))
    client, head = open_stream(peer.port("listen"), CONNECT)
    try:
        assert head[0] == (":status", "200")
        assert [name for name, _ in head[1:]] == ["date", "server"]
        assert echo(client, b"raw bytes") == b"echo:raw bytes"
    finally:
        client.close()
