"""The gRPC filters (grpc_web, grpc_http1_bridge, grpc_stats) through real hotproxy processes and,
in each test's second run, Envoy 1.40 on the same config: what an HTTP/1.1 client and an HTTP/2
gRPC upstream see must be what Envoy's binary shows (the expectations below were read off it),
and so must the stats. The upstream is a recording h2 server (grpc_upstream.py) or grpcio's."""
import base64
import struct
import subprocess
import time

import pytest

from grpc_upstream import GrpcUpstream, frame, grpcio_echo_server
from harness import RawClient, admin_stats, http_listener, simple_routes, static_cluster, to_yaml

EXT = "type.googleapis.com/envoy.extensions.filters.http."
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
HTTP2 = {"typed_extension_protocol_options": {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}}
ROUTER = {"name": "envoy.filters.http.router", "typed_config": {"@type": EXT + "router.v3.Router"}}
GRPC_WEB = {"name": "envoy.filters.http.grpc_web", "typed_config": {"@type": EXT + "grpc_web.v3.GrpcWeb"}}
WEB, WEB_PROTO = "application/grpc-web", "application/grpc-web+proto"
WEB_TEXT, WEB_TEXT_PROTO = "application/grpc-web-text", "application/grpc-web-text+proto"
#: what a client may see differently from the two proxies (dates, ids, timings; and whether
#: the connection closes after the 400 for bad base64 that came with the body's end: Envoy
#: closes it, hotproxy keeps it, the request being whole)
VARYING = {"date", "x-request-id", "x-envoy-upstream-service-time", "x-envoy-expected-rq-timeout-ms",
           "connection"}


def stats_filter(**fields):
    return {"name": "envoy.filters.http.grpc_stats",
            "typed_config": {"@type": EXT + "grpc_stats.v3.FilterConfig", **fields}}


def bridge(**fields):
    return {"name": "envoy.filters.http.grpc_http1_bridge",
            "typed_config": {"@type": EXT + "grpc_http1_bridge.v3.Config", **fields}}


def config(upstream_port, filters):
    listener = http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}),
        hcm_extra={"http_filters": [*filters, ROUTER]})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream_port, extra=HTTP2)]}})


@pytest.fixture
def grpc_upstream():
    server = GrpcUpstream()
    yield server
    server.stop()


def exchange(peer, upstream, path, headers, body):
    """(status, {header: value} without the varying ones, body), and the (headers, body) the
    upstream saw (None when the request did not reach it)."""
    upstream.seen.clear()
    client = RawClient(peer.port("listen"))
    try:
        response = client.request("POST", path, [("Host", "test"), *headers], body)
    finally:
        client.close()
    time.sleep(0.05)
    seen = upstream.seen[0] if upstream.seen else None
    if seen is not None:
        seen = ({name: value for name, value in seen[0] if name not in VARYING}, seen[1])
    shown = {name: value for name, value in response.headers if name not in VARYING}
    return (response.status, shown, response.body), seen


TRAILER_OK = b"\x80\x00\x00\x00\x1cgrpc-status:0\r\nx-trailer:t\r\n"
UPSTREAM_GRPC = {":authority": "test", ":method": "POST", ":scheme": "http",
                 "content-type": "application/grpc", "x-forwarded-proto": "http",
                 "te": "trailers", "grpc-accept-encoding": "identity"}
CHUNKED = {"server": "envoy", "transfer-encoding": "chunked"}
EMPTY = {"server": "envoy", "content-length": "0"}


#: (name, path, request headers, body, (status, response headers, body),
#:  the upstream's extra headers (None: it is not reached), the body it gets)
WEB_EXCHANGES = [
    ("binary", "/test.Echo/Say", [("Content-Type", WEB), ("X-Grpc-Web", "1"), ("Accept", WEB)],
     frame(b"hello"), (200, {"content-type": WEB_PROTO, **CHUNKED}, frame(b"hello") + TRAILER_OK),
     {"x-grpc-web": "1", "accept": WEB}, frame(b"hello")),
    ("text", "/test.Echo/Say", [("Content-Type", WEB_TEXT), ("Accept", WEB_TEXT)],
     base64.b64encode(frame(b"hello")),
     (200, {"content-type": WEB_TEXT_PROTO, **CHUNKED},
      b"AAAAAAVoZWxsbw==gAAAABxncnBjLXN0YXR1czowDQp4LXRyYWlsZXI6dA0K"),
     {"accept": WEB_TEXT}, frame(b"hello")),
    ("text-request-binary-answer", "/test.Echo/Say", [("Content-Type", WEB_TEXT_PROTO)],
     base64.b64encode(frame(b"a")) + base64.b64encode(frame(b"bc")),
     (200, {"content-type": WEB_PROTO, **CHUNKED}, frame(b"a") + frame(b"bc") + TRAILER_OK),
     {}, frame(b"a") + frame(b"bc")),
    ("bad-base64-length", "/test.Echo/Say", [("Content-Type", WEB_TEXT)], b"abc",
     (400, {"content-type": WEB_PROTO, "grpc-message": "Bad gRPC-web request, invalid base64 data.",
            "grpc-status": "13", **EMPTY}, b""), None, None),
    ("bad-base64-character", "/test.Echo/Say", [("Content-Type", WEB_TEXT)], b"ab!=",
     (400, {"content-type": WEB_PROTO, "grpc-message": "Bad gRPC-web request, invalid base64 data.",
            "grpc-status": "13", **EMPTY}, b""), None, None),
    ("bad-base64-padding-inside", "/test.Echo/Say", [("Content-Type", WEB_TEXT)],
     base64.b64encode(b"\x00\x00\x00\x00") + base64.b64encode(b"\x01x"),
     (400, {"content-type": WEB_PROTO, "grpc-message": "Bad gRPC-web request, invalid base64 data.",
            "grpc-status": "13", **EMPTY}, b""), None, None),
    ("trailers-only", "/test.Echo/Fail", [("Content-Type", WEB_TEXT), ("Accept", WEB_TEXT_PROTO)],
     base64.b64encode(frame(b"x")),
     (200, {"content-type": WEB_TEXT_PROTO, "grpc-status": "5", "grpc-message": "not found", **EMPTY},
      b""), {"accept": WEB_TEXT_PROTO}, frame(b"x")),
    ("error-trailers", "/test.Echo/Error", [("Content-Type", WEB_PROTO)], frame(b"x"),
     (200, {"content-type": WEB_PROTO, **CHUNKED},
      frame(b"x") + b'\x80\x00\x00\x00"grpc-status:13\r\ngrpc-message:bad\r\n'), {}, frame(b"x")),
    ("plain-answer", "/plain", [("Content-Type", WEB_PROTO)], frame(b"x"),
     (200, {"content-type": WEB_PROTO, "grpc-message": "hi", "grpc-status": "2", **EMPTY}, b""),
     {}, frame(b"x")),
    ("http-503", "/unavailable", [("Content-Type", WEB_PROTO)], frame(b"x"),
     (503, {"content-type": WEB_PROTO, "grpc-message": "down", "grpc-status": "14", **EMPTY}, b""),
     {}, frame(b"x")),
    ("grpc-503", "/respond?status=503&type=application/grpc&size=3", [("Content-Type", WEB_PROTO)],
     frame(b"x"), (503, {"content-type": WEB_PROTO, "grpc-message": "xxx", "grpc-status": "14",
                         **EMPTY}, b""), {}, frame(b"x")),
    ("grpc-json-answer", "/respond?status=200&type=application/grpc%2Bjson&size=3",
     [("Content-Type", WEB_PROTO)], frame(b"x"),
     (200, {"content-type": WEB_PROTO, **CHUNKED}, b"xxx"), {}, frame(b"x")),
    ("empty-404", "/respond?status=404&type=text/html&size=0", [("Content-Type", WEB_PROTO)],
     frame(b"x"), (404, {"content-type": WEB_PROTO, **EMPTY}, b""), {}, frame(b"x")),
]
#: content types the filter leaves alone: the request reaches the upstream as it was sent
UNTOUCHED = ["application/grpc-web+json", "application/grpc-web+proto; charset=utf-8",
             "application/grpc"]


@pytest.mark.parametrize("name, path, headers, body, expected, upstream_extra, upstream_body",
                         WEB_EXCHANGES, ids=[case[0] for case in WEB_EXCHANGES])
def test_grpc_web_as_envoy(peer_factory, grpc_upstream, name, path, headers, body, expected,
                           upstream_extra, upstream_body):
    peer = peer_factory(config(grpc_upstream.port, [GRPC_WEB]))
    answered, seen = exchange(peer, grpc_upstream, path, headers, body)
    assert answered == expected
    if upstream_extra is None:
        assert seen is None
        return
    assert seen == ({**UPSTREAM_GRPC, ":path": path, **upstream_extra}, upstream_body)


@pytest.mark.parametrize("content_type", UNTOUCHED)
def test_other_content_types_pass_untouched(peer_factory, grpc_upstream, content_type):
    peer = peer_factory(config(grpc_upstream.port, [GRPC_WEB]))
    (status, shown, body), seen = exchange(peer, grpc_upstream, "/test.Echo/Say",
                                           [("Content-Type", content_type)], frame(b"x"))
    assert (status, shown, body) == (200, {"content-type": "application/grpc", **CHUNKED}, frame(b"x"))
    headers, _ = seen
    assert headers["content-type"] == content_type and headers["content-length"] == "6"
    assert "te" not in headers and "grpc-accept-encoding" not in headers


def test_no_cors_headers_and_grpc_web_stats(peer_factory, grpc_upstream):
    """The filter adds no access-control headers (that is the CORS filter's job), and counts
    cluster.<name>.grpc-web.<service>.<method>.* for answers that carry a grpc-status."""
    peer = peer_factory(config(grpc_upstream.port, [GRPC_WEB]))
    (_, shown, _), _ = exchange(peer, grpc_upstream, "/test.Echo/Say",
                                [("Content-Type", WEB), ("Origin", "http://app.example")], frame(b"x"))
    assert not [name for name in shown if name.startswith("access-control-")]
    exchange(peer, grpc_upstream, "/test.Echo/Fail", [("Content-Type", WEB)], frame(b"x"))
    exchange(peer, grpc_upstream, "/plain", [("Content-Type", WEB)], frame(b"x"))
    exchange(peer, grpc_upstream, "/test.Echo/Say", [("Content-Type", WEB_TEXT)], b"abc")
    stats = {name: value for name, value in admin_stats(peer.port("admin"), "grpc-web").items() if value}
    prefix = "cluster.backend.grpc-web.test.Echo."
    assert stats == {prefix + "Say.0": 1, prefix + "Say.success": 1, prefix + "Say.total": 1,
                     prefix + "Fail.5": 1, prefix + "Fail.failure": 1, prefix + "Fail.total": 1}


BRIDGE_EXCHANGES = [
    ("ok", "/test.Echo/Say", "application/grpc", frame(b"hello"),
     (200, {"content-type": "application/grpc", "grpc-status": "0", "content-length": "10",
            "server": "envoy"}, frame(b"hello"))),
    ("trailers-only", "/test.Echo/Fail", "application/grpc", frame(b"x"),
     (200, {"content-type": "application/grpc", "grpc-status": "5", "grpc-message": "not found",
            **EMPTY}, b"")),
    ("failure", "/test.Echo/Error", "application/grpc", frame(b"x"),
     (503, {"content-type": "application/grpc", "grpc-status": "13", "grpc-message": "bad",
            "content-length": "6", "server": "envoy"}, frame(b"x"))),
    ("no-trailers", "/unavailable", "application/grpc", frame(b"x"),
     (503, {"content-type": "text/plain", "content-length": "4", "server": "envoy"}, b"down")),
    ("protobuf", "/test.Echo/Say?a=1", "application/x-protobuf", b"hello",
     (200, {"content-type": "application/grpc", "grpc-status": "0", "content-length": "5",
            "server": "envoy"}, b"hello")),
    ("query", "/test.Echo/Say?x=1", "application/grpc", frame(b"hello"),
     (200, {"content-type": "application/grpc", "grpc-status": "0", "content-length": "10",
            "server": "envoy"}, frame(b"hello"))),
]


@pytest.mark.parametrize("name, path, content_type, body, expected", BRIDGE_EXCHANGES,
                         ids=[case[0] for case in BRIDGE_EXCHANGES])
def test_http1_bridge_as_envoy(peer_factory, grpc_upstream, name, path, content_type, body, expected):
    peer = peer_factory(config(grpc_upstream.port, [bridge(upgrade_protobuf_to_grpc=True,
                                                           ignore_query_parameters=True)]))
    answered, (headers, upstream_body) = exchange(peer, grpc_upstream, path,
                                                  [("Content-Type", content_type)], body)
    assert answered == expected
    assert headers[":path"] == path.split("?")[0] and headers["content-type"] == "application/grpc"
    if content_type == "application/x-protobuf":     # framed whole, so its length is not known
        assert "content-length" not in headers and upstream_body == frame(body)


def test_http1_bridge_defaults_keep_protobuf_and_query(peer_factory, grpc_upstream):
    peer = peer_factory(config(grpc_upstream.port, [bridge()]))
    answered, (headers, body) = exchange(peer, grpc_upstream, "/test.Echo/Say?a=1",
                                         [("Content-Type", "application/x-protobuf")], b"hello")
    assert headers[":path"] == "/test.Echo/Say?a=1" and body == b"hello"
    assert headers["content-type"] == "application/x-protobuf"
    assert answered[0] == 200 and "grpc-status" not in answered[1]


STATS_EXCHANGES = [("/test.Echo/Say", "application/grpc", frame(b"a") + frame(b"b")),
                   ("/test.Echo/Fail", "application/grpc", frame(b"x")),
                   ("/test.Echo/Error", "application/grpc", frame(b"x")),
                   ("/other.Svc/M", "application/grpc", frame(b"x")),
                   ("/test.Echo/Say", WEB, frame(b"x")),
                   ("/plain", "text/plain", frame(b"x"))]
SAY, FAIL, ERROR = "cluster.backend.grpc.test.Echo.Say.", "cluster.backend.grpc.test.Echo.Fail.", \
    "cluster.backend.grpc.test.Echo.Error."
STATS_CASES = {
    "default": ({}, {
        "cluster.backend.grpc.0": 1, "cluster.backend.grpc.5": 1, "cluster.backend.grpc.13": 1,
        "cluster.backend.grpc.success": 1, "cluster.backend.grpc.failure": 2,
        "cluster.backend.grpc.total": 3, "cluster.backend.grpc.request_message_count": 5,
        "cluster.backend.grpc.response_message_count": 3}),
    "all-methods": ({"stats_for_all_methods": True}, {
        SAY + "0": 1, SAY + "success": 1, SAY + "total": 1, SAY + "request_message_count": 2,
        SAY + "response_message_count": 2, FAIL + "5": 1, FAIL + "failure": 1, FAIL + "total": 1,
        FAIL + "request_message_count": 1, ERROR + "13": 1, ERROR + "failure": 1,
        ERROR + "total": 1, ERROR + "request_message_count": 1, ERROR + "response_message_count": 1,
        "cluster.backend.grpc.other.Svc.M.request_message_count": 1}),
    "allowlist": ({"individual_method_stats_allowlist": {"services": [
        {"name": "test.Echo", "method_names": ["Say"]}]}, "replace_dots_in_grpc_service_name": True}, {
        SAY + "0": 1, SAY + "success": 1, SAY + "total": 1, SAY + "request_message_count": 2,
        SAY + "response_message_count": 2, "cluster.backend.grpc.5": 1, "cluster.backend.grpc.13": 1,
        "cluster.backend.grpc.failure": 2, "cluster.backend.grpc.total": 2,
        "cluster.backend.grpc.request_message_count": 3,
        "cluster.backend.grpc.response_message_count": 1}),
    "all-methods-no-dots": ({"stats_for_all_methods": True, "replace_dots_in_grpc_service_name": True}, {
        "cluster.backend.grpc.test_Echo.Say.total": 1, "cluster.backend.grpc.test_Echo.Fail.total": 1,
        "cluster.backend.grpc.other_Svc.M.request_message_count": 1}),
}


@pytest.mark.parametrize("case", STATS_CASES)
def test_grpc_stats_as_envoy(peer_factory, grpc_upstream, case):
    fields, expected = STATS_CASES[case]
    peer = peer_factory(config(grpc_upstream.port, [stats_filter(**fields), GRPC_WEB]))
    for path, content_type, body in STATS_EXCHANGES:
        exchange(peer, grpc_upstream, path, [("Content-Type", content_type)], body)
    stats = {name: value for name, value in admin_stats(peer.port("admin"), r"\.grpc\.").items()
             if value}
    if case == "all-methods-no-dots":
        stats = {name: value for name, value in stats.items() if name in expected}
    assert stats == expected


# ---- grpcio's server behind the proxy

@pytest.fixture
def grpcio_server():
    pytest.importorskip("grpc")
    with grpcio_echo_server() as port:
        yield port


def web_frames(body):
    """The (flags, payload) frames of a gRPC-Web body."""
    frames = []
    while body:
        flags, length = struct.unpack(">BI", body[:5])
        frames.append((flags, body[5:5 + length]))
        body = body[5 + length:]
    return frames


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
def test_grpc_web_to_grpcio(peer_factory, grpcio_server, text):
    peer = peer_factory(config(grpcio_server, [GRPC_WEB]))
    content_type = WEB_TEXT if text else WEB_PROTO
    body = frame(b"world")
    client = RawClient(peer.port("listen"))
    try:
        response = client.request("POST", "/test.Echo/Say", [
            ("Host", "test"), ("Content-Type", content_type), ("Accept", content_type),
            ("X-Grpc-Web", "1")], base64.b64encode(body) if text else body)
        failed = client.request("POST", "/test.Echo/Say", [
            ("Host", "test"), ("Content-Type", WEB_PROTO)], frame(b"fail"))
    finally:
        client.close()
    assert response.status == 200
    assert response.header("content-type") == (WEB_TEXT_PROTO if text else WEB_PROTO)
    answer = response.body
    if text:    # each piece is base64 on its own: decode quantum by quantum
        answer = b"".join(base64.b64decode(answer[index:index + 4]) for index in range(0, len(answer), 4))
    (data_flags, message), (trailer_flags, trailers) = web_frames(answer)
    assert (data_flags, message) == (0, b"hello world")
    assert trailer_flags == 0x80
    lines = dict(line.split(":", 1) for line in trailers.decode().split("\r\n") if line)
    assert lines["grpc-status"] == "0" and lines["x-trailer"] == "t"
    # grpcio answers an aborted call trailers-only: the status stays in the head
    assert failed.status == 200 and failed.body == b""
    assert failed.header("grpc-status") == "5" and failed.header("grpc-message") == "no such thing"


def test_http1_bridge_to_grpcio(peer_factory, grpcio_server):
    peer = peer_factory(config(grpcio_server, [bridge()]))
    client = RawClient(peer.port("listen"))
    try:
        ok = client.request("POST", "/test.Echo/Say", [
            ("Host", "test"), ("Content-Type", "application/grpc"), ("TE", "trailers")], frame(b"world"))
        failed = client.request("POST", "/test.Echo/Say", [
            ("Host", "test"), ("Content-Type", "application/grpc"), ("TE", "trailers")], frame(b"fail"))
    finally:
        client.close()
    assert ok.status == 200 and ok.body == frame(b"hello world")
    assert ok.header("grpc-status") == "0" and ok.header("content-length") == str(len(ok.body))
    assert failed.status == 200 and failed.header("grpc-status") == "5"


def test_grpc_stats_with_a_grpcio_client(peer_factory, grpcio_server):
    grpc = pytest.importorskip("grpc")
    peer = peer_factory(config(grpcio_server, [stats_filter(stats_for_all_methods=True)]))
    with grpc.insecure_channel(f"127.0.0.1:{peer.port('listen')}") as channel:
        call = channel.unary_unary("/test.Echo/Say")
        assert call(b"world", timeout=10) == b"hello world"
        with pytest.raises(grpc.RpcError):
            call(b"fail", timeout=10)
    say = "cluster.backend.grpc.test.Echo.Say."
    stats = {name: value for name, value in admin_stats(peer.port("admin"), r"\.grpc\.").items() if value}
    assert stats == {say + "0": 1, say + "5": 1, say + "success": 1, say + "failure": 1,
                     say + "total": 2, say + "request_message_count": 2,
                     say + "response_message_count": 1}


def test_grpc_web_over_h2_and_the_bridge_leaves_h2_alone(peer_factory, grpc_upstream, tmp_path):
    """A browser on h2 (curl --http2-prior-knowledge): the trailer frame ends the DATA, no
    HTTP/2 trailers; the bridge does not touch an HTTP/2 client's answer."""
    peer = peer_factory(config(grpc_upstream.port, [bridge(), GRPC_WEB]))
    body = tmp_path / "body"
    body.write_bytes(frame(b"hello"))

    def curl(*headers):
        out = subprocess.run(
            ["curl", "-s", "--http2-prior-knowledge", "-D", "-", "--data-binary", f"@{body}",
             *[arg for header in headers for arg in ("-H", header)],
             f"http://127.0.0.1:{peer.port('listen')}/test.Echo/Say"],
            capture_output=True, timeout=20, check=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        return head.decode().lower(), payload

    head, payload = curl(f"content-type: {WEB}")
    assert head.startswith("http/2 200") and f"content-type: {WEB_PROTO}" in head
    assert payload == frame(b"hello") + TRAILER_OK
    head, payload = curl("content-type: application/grpc", "te: trailers")
    assert head.startswith("http/2 200") and "grpc-status" not in head
    assert payload.startswith(frame(b"hello"))
