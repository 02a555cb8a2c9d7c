"""An upstream that refuses a WebSocket upgrade: its answer reaches the client, hotproxy and
Envoy 1.40 on one config, without ``x-envoy-upstream-service-time`` (Envoy adds it only once
the downstream request has ended, which an upgrade request never does), and the connection
closes."""
from harness import http_listener, simple_routes, static_cluster, to_yaml
from http1_raw import exchange
from raw_upstream import RecordingUpstream

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
HANDSHAKE = (b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
REFUSAL = b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nx-up: 1\r\n\r\nnope"


def config(upstream_port):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "ws"}}
    hcm = {"upgrade_configs": [{"upgrade_type": "websocket"}]}
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes(route), hcm)],
        "clusters": [static_cluster("ws", upstream_port)]}})


def test_a_refused_upgrade_is_relayed_without_the_service_time(peer_factory):
    upstream = RecordingUpstream(lambda request: REFUSAL)
    try:
        peer = peer_factory(config(upstream.port))
        received = exchange(peer.port("listen"), HANDSHAKE)
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        assert lines[0].startswith(b"http/1.1 404 ") and body == b"nope"
        assert b"x-up: 1" in lines and b"connection: close" in lines
        assert not any(line.startswith(b"x-envoy-upstream-service-time") for line in lines)
        # a plain request on the same route still gets it
        plain = exchange(peer.port("listen"), b"GET /x HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n")
        assert b"x-envoy-upstream-service-time: " in plain.lower()
    finally:
        upstream.close()
