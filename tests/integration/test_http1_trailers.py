"""HTTP/1.1 chunked trailers (``enable_trailers``), hotproxy and Envoy 1.40 on one config: with it
on the connection manager and the cluster, a chunked request's trailers reach the upstream and a
chunked response's reach the client, over HTTP/1.1 and between an HTTP/2 client and an HTTP/1.1
upstream; without it they are dropped and the bodies end with a bare last chunk."""
import pytest

from harness import http_listener, simple_routes, to_yaml
from http1_raw import exchange
from raw_upstream import RecordingUpstream
from trailer_clients import h2_post_with_trailers

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
RESPONSE = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\nx-t: v\r\n\r\n")
REQUEST = (b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nte: trailers\r\n"
           b"connection: close\r\n\r\n3\r\nabc\r\n0\r\nx-req-t: 1\r\ngrpc-x: 2\r\n\r\n")


def config(upstream_port, trailers, max_headers_count=None):
    """``max_headers_count``: on both sides (common_http_protocol_options), when given."""
    common = {} if max_headers_count is None else {
        "common_http_protocol_options": {"max_headers_count": max_headers_count}}
    cluster = {"name": "up", "connect_timeout": "1s",
               "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                   "@type": OPTIONS, **common,
                   "explicit_http_config": {"http_protocol_options": {"enable_trailers": trailers}}}},
               "load_assignment": {"cluster_name": "up", "endpoints": [{"lb_endpoints": [{"endpoint": {
                   "address": {"socket_address": {"address": "127.0.0.1", "port_value": upstream_port}}}}]}]}}
    routes = simple_routes(  # a retrying route keeps the request for a replay: its own path
        {"match": {"prefix": "/retrying"}, "route": {"cluster": "up", "retry_policy": {
            "retry_on": "5xx", "num_retries": 1}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "up"}})
    listener = http_listener("http", "listen", routes,
                             hcm_extra={"http_protocol_options": {"enable_trailers": trailers}, **common})
    return to_yaml({"admin": ADMIN, "static_resources": {"listeners": [listener], "clusters": [cluster]}})


def assert_bodies_end(sent_up, received, trailers):
    """REQUEST's body went up, and RESPONSE's body (``hello``) came back, with their trailers or without."""
    if trailers:
        assert sent_up.endswith(b"3\r\nabc\r\n0\r\nx-req-t: 1\r\ngrpc-x: 2\r\n\r\n")
        assert received.endswith(b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\nx-t: v\r\n\r\n")
    else:
        assert sent_up.endswith(b"3\r\nabc\r\n0\r\n\r\n")
        assert received.endswith(b"5\r\nhello\r\n0\r\n\r\n")


def assert_response_failed(peer, received):
    """A response with too many trailers failed: Envoy has sent the head and body by then and
    cuts the connection; hotproxy read it all at once and answers 502 (envoy-reference)."""
    assert b"x-t0" not in received and not received.endswith(b"0\r\n\r\n")
    if peer.kind == "hotproxy":
        assert received.startswith(b"HTTP/1.1 502 ")


@pytest.mark.parametrize("trailers", [True, False], ids=["enabled", "disabled"])
def test_chunked_trailers_cross_as_envoy_forwards_them(peer_factory, trailers):
    upstream = RecordingUpstream(lambda request: RESPONSE)
    try:
        peer = peer_factory(config(upstream.port, trailers))
        port = peer.port("listen")

        for path in (b"/", b"/retrying"):
            received = exchange(port, REQUEST.replace(b"POST / ", b"POST %s " % path))
            assert_bodies_end(upstream.requests[-1].raw, received, trailers)

        # HTTP/2 client, HTTP/1.1 upstream: the cluster's option alone decides
        response = h2_post_with_trailers(port)
        assert response.status == 200 and response.body == b"hello"
        sent_up = upstream.requests[-1].raw
        if trailers:
            assert response.trailers == [(b"grpc-status", b"0"), (b"x-t", b"v")]
            assert sent_up.endswith(b"0\r\nx-req-t: 1\r\n\r\n")
        else:
            assert response.trailers == []
            assert sent_up.endswith(b"3\r\nabc\r\n0\r\n\r\n")
    finally:
        upstream.close()


def test_trailers_count_against_the_header_limits(peer_factory):
    """max_headers_count bounds a trailer section on its own (not added to its head's), as
    Envoy counts it."""
    many = b"".join(b"x-t%d: v\r\n" % index for index in range(6))
    upstream = RecordingUpstream(lambda request: RESPONSE.replace(b"grpc-status: 0\r\nx-t: v\r\n", many))
    try:
        peer = peer_factory(config(upstream.port, True, max_headers_count=5))
        request = REQUEST.replace(b"x-req-t: 1\r\ngrpc-x: 2\r\n", many)
        received = exchange(peer.port("listen"), request)
        assert received.startswith(b"HTTP/1.1 431 ") and upstream.requests == []
        # five trailers after a head of four headers: within the limit, each section on its own
        five = b"".join(b"x-t%d: v\r\n" % index for index in range(5))
        upstream.respond = lambda request: RESPONSE
        received = exchange(peer.port("listen"), REQUEST.replace(b"x-req-t: 1\r\ngrpc-x: 2\r\n", five))
        assert received.startswith(b"HTTP/1.1 200 ") and upstream.requests[-1].raw.endswith(five + b"\r\n")
        upstream.respond = lambda request: RESPONSE.replace(b"grpc-status: 0\r\nx-t: v\r\n", many)

        # six response trailers: the response fails
        assert_response_failed(peer, exchange(peer.port("listen"), REQUEST))
    finally:
        upstream.close()
