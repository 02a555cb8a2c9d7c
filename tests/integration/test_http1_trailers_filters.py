"""HTTP/1.1 trailers (``enable_trailers``) through HTTP filters besides the router, hotproxy and
Envoy 1.40 on one config: a chunked response's trailers reach the client and a chunked request's
the upstream as they do without filters, whether the filters leave trailers alone (cors) or have
trailer hooks (grpc_stats, which counts the response's grpc-status from them), from an HTTP/1.1
upstream or an HTTP/2 one; and, hotproxy's own, a Python filter's decode_trailers /
encode_trailers hooks see and edit them on the way."""
import json
import textwrap

import pytest

from harness import admin_stats, http_listener, simple_routes, static_cluster, to_yaml
from http1_raw import exchange
from raw_upstream import RecordingUpstream
from test_http1_trailers import ADMIN, OPTIONS, REQUEST, assert_bodies_end, assert_response_failed
from test_upstream_http2 import H2Upstream
from test_upstream_http2 import config as h2_config
from trailer_clients import h2_post_with_trailers

EXT = "type.googleapis.com/envoy.extensions.filters.http."
ROUTER = {"name": "envoy.filters.http.router", "typed_config": {"@type": EXT + "router.v3.Router"}}
CORS = {"name": "envoy.filters.http.cors", "typed_config": {"@type": EXT + "cors.v3.Cors"}}
GRPC_STATS = {"name": "envoy.filters.http.grpc_stats", "typed_config": {
    "@type": EXT + "grpc_stats.v3.FilterConfig", "stats_for_all_methods": True}}
PYTHON_TYPE = "type.googleapis.com/hotproxy.filters.python.v1.Python"
GRPC_REQUEST = REQUEST.replace(b"POST / ", b"POST /test.Echo/Say ").replace(
    b"te: trailers\r\n", b"te: trailers\r\ncontent-type: application/grpc\r\n")
GRPC_RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\nx-t: v\r\n\r\n")


def config(upstream_port, filters, trailers=True, max_headers_count=None):
    """``max_headers_count``: on both sides (common_http_protocol_options), when given."""
    common = {} if max_headers_count is None else {
        "common_http_protocol_options": {"max_headers_count": max_headers_count}}
    cluster = static_cluster("up", upstream_port, extra={"typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": OPTIONS, **common,
            "explicit_http_config": {"http_protocol_options": {"enable_trailers": trailers}}}}})
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "up"}})
    listener = http_listener("http", "listen", routes, hcm_extra={
        "http_protocol_options": {"enable_trailers": trailers}, **common,
        "http_filters": [*filters, ROUTER]})
    return to_yaml({"admin": ADMIN, "static_resources": {"listeners": [listener], "clusters": [cluster]}})


@pytest.mark.parametrize("trailers", [True, False], ids=["enabled", "disabled"])
@pytest.mark.parametrize("filters", [[CORS], [GRPC_STATS], [GRPC_STATS, CORS]],
                         ids=["cors", "grpc_stats", "grpc_stats-cors"])
def test_trailers_cross_the_filters_as_envoy_forwards_them(peer_factory, filters, trailers):
    upstream = RecordingUpstream(lambda request: GRPC_RESPONSE)
    try:
        peer = peer_factory(config(upstream.port, filters, trailers))
        received = exchange(peer.port("listen"), GRPC_REQUEST)
        assert received.startswith(b"HTTP/1.1 200 ")
        assert_bodies_end(upstream.requests[-1].raw, received, trailers)
        if GRPC_STATS in filters:
            # grpc_stats charged the trailers' grpc-status only where the cluster decoded them
            say = "cluster.up.grpc.test.Echo.Say."
            expected = {say + "request_message_count": 1, say + "response_message_count": 1}
            if trailers:
                expected.update({say + "0": 1, say + "success": 1, say + "total": 1})
            assert admin_stats(peer.port("admin"), r"\.grpc\.") == expected
    finally:
        upstream.close()


def test_too_many_response_trailers_fail_a_filtered_response_too(peer_factory):
    """The filtered response's trailers are bounded as the router's (max_headers_count): six
    fail it (Envoy cuts the connection after head and body; hotproxy answers 502, see
    test_http1_trailers.py)."""
    many = b"".join(b"x-t%d: v\r\n" % index for index in range(6))
    upstream = RecordingUpstream(lambda request: GRPC_RESPONSE.replace(b"grpc-status: 0\r\nx-t: v\r\n", many))
    try:
        peer = peer_factory(config(upstream.port, [GRPC_STATS], max_headers_count=5))
        assert_response_failed(peer, exchange(peer.port("listen"), REQUEST))
    finally:
        upstream.close()


EDITOR = """
    class TrailerEditor:
        def __init__(self, config):
            pass

        def decode_trailers(self, stream, trailers):
            trailers.append((b"x-seen-up", b"%d" % len(trailers)))

        def encode_trailers(self, stream, trailers):
            trailers[:] = [(name, value) for name, value in trailers if name != b"x-t"]
            trailers.append((b"x-seen-down", b"1"))
"""


@pytest.mark.parametrize("trailers", [True, False], ids=["enabled", "disabled"])
def test_a_filters_trailer_hooks_edit_them_on_the_way(proxy_factory, tmp_path, trailers):
    module = tmp_path / "trailer_editor.py"
    module.write_text(textwrap.dedent(EDITOR))
    editor = {"name": "editor", "typed_config": {"@type": PYTHON_TYPE, "path": str(module),
                                                 "class": "TrailerEditor", "config": {}}}
    upstream = RecordingUpstream(lambda request: GRPC_RESPONSE)
    try:
        proxy = proxy_factory(config(upstream.port, [editor], trailers))
        received = exchange(proxy.port("listen"), REQUEST)
        sent_up = upstream.requests[-1].raw
        if trailers:
            assert sent_up.endswith(b"0\r\nx-req-t: 1\r\ngrpc-x: 2\r\nx-seen-up: 2\r\n\r\n")
            assert received.endswith(b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\nx-seen-down: 1\r\n\r\n")
        else:   # neither codec decoded them: no hook ran, the bodies end bare
            assert sent_up.endswith(b"3\r\nabc\r\n0\r\n\r\n")
            assert received.endswith(b"5\r\nhello\r\n0\r\n\r\n")

        # an HTTP/2 client's trailers pass the decode_trailers hook whatever the connection
        # manager's option (HTTP/2 always carries them); the cluster's decides what goes up
        response = h2_post_with_trailers(proxy.port("listen"))
        sent_up = upstream.requests[-1].raw
        assert response.status == 200 and response.body == b"hello"
        if trailers:
            assert sent_up.endswith(b"0\r\nx-req-t: 1\r\nx-seen-up: 1\r\n\r\n")
            assert response.trailers == [(b"grpc-status", b"0"), (b"x-seen-down", b"1")]
        else:
            assert sent_up.endswith(b"3\r\nabc\r\n0\r\n\r\n") and response.trailers == []
    finally:
        upstream.close()


#: what test_upstream_http2.H2Upstream answers GET /trailers with, framed chunked for an HTTP/1.1
#: client, with and without the trailers
H2_UPSTREAM_BODY_TRAILED = b"7\r\npayload\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n"
H2_UPSTREAM_BODY = b"7\r\npayload\r\n0\r\n\r\n"


def body_from_an_h2_upstream(peer_factory, trailers, http_filter, headers=b""):
    """The body, framing and all, an HTTP/1.1 client gets for GET /trailers (with ``headers``)
    from an HTTP/2 upstream, through ``http_filter`` (or the router alone) where the connection
    manager's enable_trailers is ``trailers``."""
    server = H2Upstream()
    try:
        text = h2_config(server.port).replace(
            '"codec_type": "AUTO"',
            '"codec_type": "AUTO", "http_protocol_options": {"enable_trailers": %s}' % str(trailers).lower())
        assert "enable_trailers" in text
        if http_filter is not None:
            text = text.replace('"http_filters": [', '"http_filters": [%s,' % json.dumps(http_filter), 1)
            assert http_filter["name"] in text
        peer = peer_factory(text)
        received = exchange(peer.port("listen"), b"GET /trailers HTTP/1.1\r\nhost: x\r\nte: trailers\r\n"
                            + headers + b"connection: close\r\n\r\n")
        return received.split(b"\r\n\r\n", 1)[1]
    finally:
        server.stop()


@pytest.mark.parametrize("trailers", [True, False], ids=["enabled", "disabled"])
def test_an_h2_upstreams_trailers_reach_an_http1_client_through_the_filters(peer_factory, trailers):
    """From an HTTP/2 upstream (which always carries trailers) through grpc_stats' hooks: the
    connection manager's enable_trailers alone decides whether the HTTP/1.1 client gets them."""
    body = body_from_an_h2_upstream(peer_factory, trailers, GRPC_STATS, b"content-type: application/grpc\r\n")
    assert body == (H2_UPSTREAM_BODY_TRAILED if trailers else H2_UPSTREAM_BODY)


@pytest.mark.parametrize("filters", ["router only", "cors"])
@pytest.mark.parametrize("trailers", [True, False], ids=["enabled", "disabled"])
def test_an_h2_upstreams_trailers_reach_an_http1_client_without_trailer_hooks(peer_factory, trailers, filters):
    """The same with no filter that has a body or trailer hook: the router frames the chunked
    body, and ends it with the trailers where the connection manager enables them."""
    body = body_from_an_h2_upstream(peer_factory, trailers, CORS if filters == "cors" else None)
    assert body == (H2_UPSTREAM_BODY_TRAILED if trailers else H2_UPSTREAM_BODY)
