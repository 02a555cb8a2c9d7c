"""max_stream_duration on the downstream side (http/stream_duration.py), hotproxy and Envoy 1.40
on one config: the connection manager's limit (0.5 s here) answers a stream whose response has
not started (504 once the request is whole, 408 while it arrives, DEADLINE_EXCEEDED to gRPC) and
resets one whose response has (HTTP/2: just that stream); a route's max_stream_duration replaces
it (0: none), and so does a gRPC request's grpc-timeout on a route with grpc_timeout_header_max.
The access log says max_duration_timeout with no response flag; the stat counts each end.

The upstreams are slow by whole seconds against the half-second limit: what is asserted is which
answer comes, never how long it took."""
import json
import threading
import time

import pytest

from h2_client import H2Client, H2Response
from harness import (RawClient, ScriptedUpstream, http_listener, read_lines, simple_routes, static_cluster,
                     to_yaml)

FORMAT = "%REQ(:PATH)% %PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n"
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
STAT = "http.duration.downstream_rq_max_duration_reached"
TIMED_OUT = b"downstream duration timeout"
GRPC = [("content-type", "application/grpc"), ("te", "trailers")]
_INTERNAL_ERROR = 2


def drip(server, conn):
    """A response head, then its 100-byte body ten bytes at a time, slowly."""
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
    for _ in range(10):
        time.sleep(0.3)
        conn.sendall(b"x" * 10)


@pytest.fixture
def dripping():
    server = ScriptedUpstream(drip)
    yield server
    server.close()


def start(peer_factory, tmp_path, upstream, dripping):
    log = tmp_path / "access.log"

    def to(prefix, limits):
        return {"match": {"prefix": prefix}, "route": {"cluster": "up", "prefix_rewrite": "/",
                                                       "max_stream_duration": limits}}
    routes = simple_routes(
        {"match": {"prefix": "/drip"}, "route": {"cluster": "drip"}},
        to("/longer/", {"max_stream_duration": "4s"}),
        to("/unlimited/", {"max_stream_duration": "0s"}),
        to("/grpc/", {"grpc_timeout_header_max": "0s"}),
        {"match": {"prefix": "/"}, "route": {"cluster": "up"}})
    listener = http_listener("http", "listen", routes, stat_prefix="duration", hcm_extra={
        "common_http_protocol_options": {"max_stream_duration": "0.5s"},
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": FILE_LOG, "path": str(log),
            "log_format": {"text_format_source": {"inline_string": FORMAT}}}}]})
    peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener],
        "clusters": [static_cluster("up", upstream.port), static_cluster("drip", dripping.port)]}}))
    return peer, log


def test_http1_answers_before_the_response_and_closes_after_it(peer_factory, tmp_path, upstream,
                                                                dripping):
    peer, log = start(peer_factory, tmp_path, upstream, dripping)
    client = RawClient(peer.port("listen"))
    response = client.request(path="/sleep/3000")
    assert (response.status, response.body) == (504, TIMED_OUT)
    client.close()

    client = RawClient(peer.port("listen"))      # a request whose body never ends
    client.send(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 10\r\n\r\nabc")
    response = client.read_response()
    assert (response.status, response.body) == (408, TIMED_OUT)
    assert response.header("connection") == "close" and client.is_closed(wait=5)
    client.close()

    client = RawClient(peer.port("listen"))      # the response started: cut short
    client.send(b"GET /drip HTTP/1.1\r\nhost: test\r\n\r\n")
    with pytest.raises(EOFError):
        client.read_response()
    assert client.buffer.startswith(b"x") and len(client.buffer) < 100
    client.close()

    assert peer.counter(STAT) == 3
    assert read_lines(log, 3) == ["/sleep/3000 HTTP/1.1 504 - max_duration_timeout",
                                 "/echo HTTP/1.1 408 - max_duration_timeout",
                                 "/drip HTTP/1.1 200 - max_duration_timeout"]


def test_a_route_lengthens_or_lifts_the_limit(peer_factory, tmp_path, upstream, dripping):
    peer, log = start(peer_factory, tmp_path, upstream, dripping)
    for path in ("/longer/sleep/1500", "/unlimited/sleep/1500"):
        client = RawClient(peer.port("listen"))
        response = client.request(path=path)
        client.close()
        assert (response.status, response.body) == (200, b"slept"), path
    assert peer.counter(STAT) == 0
    # (the path is left out: Envoy logs the rewritten one, hotproxy the client's)
    assert [line.split(" ", 1)[1] for line in read_lines(log, 2)] == [
        "HTTP/1.1 200 - via_upstream", "HTTP/1.1 200 - via_upstream"]


def test_http2_answers_or_resets_just_the_stream(peer_factory, tmp_path, upstream, dripping):
    peer, log = start(peer_factory, tmp_path, upstream, dripping)
    client = H2Client(peer.port("listen"))
    try:
        slow = client.start("GET", "/sleep/3000")
        dripped = client.start("GET", "/drip")
        sending = client.conn.get_next_available_stream_id()     # its body never ends
        client.conn.send_headers(sending, [(b":method", b"POST"), (b":scheme", b"http"),
                                           (b":authority", b"test"), (b":path", b"/echo")])
        client.responses[sending] = H2Response()
        client._flush()
        grpc = client.start("POST", "/sleep/3000", GRPC, body=b"\0\0\0\0\0")
        responses = [client.response(stream) for stream in (slow, dripped, sending, grpc)]
        after = client.request("GET", "/echo")      # the connection outlives the reset stream
    finally:
        client.close()
    slow, dripped, sending, grpc = responses
    assert (slow.status, slow.body) == (504, TIMED_OUT)
    assert dripped.status == 200 and dripped.reset == _INTERNAL_ERROR
    assert dripped.body.startswith(b"x") and len(dripped.body) < 100
    assert (sending.status, sending.body) == (408, TIMED_OUT)
    assert grpc.status == 200
    assert (grpc.header(b"grpc-status"), grpc.header(b"grpc-message")) == (b"4", TIMED_OUT)
    assert after.status == 200 and after.reset is None
    assert peer.counter(STAT) == 4
    lines = read_lines(log, 5)
    assert sorted(lines) == sorted(["/sleep/3000 HTTP/2 504 - max_duration_timeout",
                                    "/drip HTTP/2 200 - max_duration_timeout",
                                    "/echo HTTP/2 408 - max_duration_timeout",
                                    "/sleep/3000 HTTP/2 200 - max_duration_timeout",
                                    "/echo HTTP/2 200 - via_upstream"])


def test_a_grpc_timeout_sets_the_limit_and_is_rewritten(peer_factory, tmp_path, upstream,
                                                        dripping):
    """On a route with grpc_timeout_header_max the request's grpc-timeout replaces the
    connection manager's limit (a longer one lets the slow call through); without one, the
    connection manager's limit is what the upstream is told."""
    peer, _ = start(peer_factory, tmp_path, upstream, dripping)
    client = H2Client(peer.port("listen"))
    try:
        lengthened = client.request("POST", "/grpc/sleep/1500", GRPC + [("grpc-timeout", "6S")],
                                    body=b"\0\0\0\0\0")
        told = client.request("POST", "/grpc/echo", GRPC, body=b"\0\0\0\0\0")
        kept = client.request("POST", "/echo", GRPC + [("grpc-timeout", "6S")], body=b"\0\0\0\0\0")
    finally:
        client.close()
    assert (lengthened.status, lengthened.body) == (200, b"slept")
    assert lengthened.header(b"grpc-status") is None
    assert dict(json.loads(told.body)["headers"])["grpc-timeout"] == "500m"
    # a route without max_stream_duration leaves grpc-timeout as the client sent it
    assert dict(json.loads(kept.body)["headers"])["grpc-timeout"] == "6S"
    assert peer.counter(STAT) == 0


def test_a_websocket_is_cut_at_the_limit(peer_factory):
    """An upgraded stream is a stream whose response started: at the limit the connection goes
    (Envoy resets the stream), and the stat counts it."""
    websockets = pytest.importorskip("websockets")
    from websockets.sync.client import connect
    from websockets.sync.server import serve

    def echo(ws):
        for message in ws:
            ws.send(message)
    server = serve(echo, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "ws"}})
        listener = http_listener("http", "listen", routes, stat_prefix="duration", hcm_extra={
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "common_http_protocol_options": {"max_stream_duration": "0.5s"}})
        peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
            "listeners": [listener],
            "clusters": [static_cluster("ws", server.socket.getsockname()[1])]}}))
        with connect(f"ws://127.0.0.1:{peer.port('listen')}/chat") as ws:
            ws.send("before")
            assert ws.recv(timeout=5) == "before"
            time.sleep(1.5)
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                ws.send("after")
                ws.recv(timeout=5)
        assert peer.counter(STAT) == 1
    finally:
        server.shutdown()
