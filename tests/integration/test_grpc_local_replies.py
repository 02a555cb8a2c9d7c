"""Local replies to gRPC requests over HTTP/2 are trailers-only responses, byte for byte as
Envoy 1.40 sends them (run against both proxies): status 200, content-type application/grpc,
grpc-status mapped from the HTTP status, grpc-message from the body."""
import socket
import threading

import pytest

from h2_client import H2Client
from harness import refused_port, to_yaml

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
GRPC = [("content-type", "application/grpc"), ("te", "trailers")]


@pytest.fixture
def silent_upstream():
    """Accepts connections and never answers (a route timeout's upstream)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    for conn in held:
        conn.close()


def cluster(name, port):
    return {"name": name, "connect_timeout": "0.2s", "load_assignment": {
        "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
            "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


def grpc_config(dead_port, slow_port):
    routes = [{"match": {"prefix": "/dead"}, "route": {"cluster": "dead"}},
              {"match": {"prefix": "/slow"}, "route": {"cluster": "slow", "timeout": "0.3s"}},
              {"match": {"prefix": "/direct"},
               "direct_response": {"status": 403, "body": {"inline_string": "go away 100%"}}}]
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": "grpc", "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": routes}]},
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    listener = {"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [cluster("dead", dead_port), cluster("slow", slow_port)]}})


CASES = [
    ("/dead", 14, b"upstream connect error or disconnect/reset before headers. reset reason: "
                  b"remote connection failure"),
    ("/slow", 14, b"upstream request timeout"),
    ("/direct", 7, b"go away 100%25"),
    ("/nowhere", 12, None),
]


def test_local_replies_to_grpc_are_trailers_only(peer_factory, silent_upstream):
    peer = peer_factory(grpc_config(refused_port(), silent_upstream))
    client = H2Client(peer.port("listen"))
    try:
        for path, grpc_status, message in CASES:
            response = client.request("POST", path, GRPC, body=b"\x00\x00\x00\x00\x00")
            names = [name for name, _ in response.headers]
            expected = [b"content-type", b"grpc-status"] + ([b"grpc-message"] if message else [])
            assert (response.status, names[:len(expected)]) == (200, expected), path
            assert response.header(b"content-type") == b"application/grpc"
            assert response.header(b"grpc-status") == b"%d" % grpc_status, path
            assert response.header(b"grpc-message") == message, path
            assert response.body == b"" and response.header(b"content-length") is None
            plain = client.request("POST", path, body=b"x")
            assert plain.status != 200 and plain.header(b"grpc-status") is None
    finally:
        client.close()
