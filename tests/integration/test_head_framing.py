"""A HEAD answered by an upstream that frames its responses chunked: the client hears
``transfer-encoding: chunked`` and no body, whether the response passes no filter, filters
without body hooks (the router frames it) or one with a body hook (the filters' sink frames it),
as from Envoy 1.40, and the connection stays usable."""
import socket
import threading

import pytest

from harness import RawClient, accept_each, http_listener, simple_routes, static_cluster, to_yaml

EXT = "type.googleapis.com/envoy.extensions.filters.http."
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": EXT + "router.v3.Router"}}
MUTATION = {"name": "mutate", "typed_config": {"@type": EXT + "header_mutation.v3.HeaderMutation", "mutations": {
    "response_mutations": [{"append": {"header": {"key": "x-mutated", "value": "1"}}}]}}}
GZIP = {"name": "gz", "typed_config": {
    "@type": EXT + "compressor.v3.Compressor",
    "compressor_library": {"name": "gz", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip"}},
    "response_direction_config": {}}}
CHAINS = {"listen_plain": [ROUTER], "listen_mutation": [MUTATION, ROUTER], "listen_body_hook": [GZIP, ROUTER]}


def chunked_upstream():
    """Answers HEAD with a chunked head and nothing after it, anything else with 'hello' chunked."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def handle(conn):
        pending = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
            while b"\r\n\r\n" in pending:
                head, _, pending = pending.partition(b"\r\n\r\n")
                conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                             + (b"" if head.startswith(b"HEAD ") else b"5\r\nhello\r\n0\r\n\r\n"))

    threading.Thread(target=accept_each, args=(listener, handle), daemon=True).start()
    return listener


def config(upstream_port):
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    listeners = [http_listener(name, name, routes, hcm_extra={"http_filters": chain})
                 for name, chain in CHAINS.items()]
    admin = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
    return to_yaml({"admin": admin, "static_resources": {
        "listeners": listeners, "clusters": [static_cluster("backend", upstream_port)]}})


@pytest.mark.parametrize("listener", sorted(CHAINS))
def test_a_head_to_a_chunked_upstream_says_chunked_and_sends_no_body(peer_factory, listener):
    upstream = chunked_upstream()
    try:
        peer = peer_factory(config(upstream.getsockname()[1]))
        client = RawClient(peer.port(listener))
        try:
            head = client.request(method="HEAD")
            assert head.status == 200
            assert head.header("transfer-encoding") == "chunked"
            assert head.header("content-length") is None
            assert head.body == b""
            if listener == "listen_mutation":
                assert head.header("x-mutated") == "1"
            # nothing stray followed the head: the next response on the connection is whole
            after = client.request(method="GET")
            assert (after.status, after.body) == (200, b"hello")
        finally:
            client.close()
    finally:
        upstream.close()
