"""The gRPC-Web filter, sans-IO: the request made gRPC, the answer made gRPC-Web (trailer frame,
base64 for -text), trailers-only and non-gRPC answers, bad base64, the per-method stats."""
import base64
import struct
from types import SimpleNamespace

import pytest

from hotproxy.http.filters import grpc_web
from hotproxy.http.filters.api import CONTINUE, STOP, FilterContext, Response

from filter_fakes import FakeRequest, FakeStream


def frame(message, flags=0):
    return struct.pack(">BI", flags, len(message)) + message


def make_stream(content_type, accept=None, target=b"/test.Echo/Say"):
    headers = [(b"content-type", content_type), (b"content-length", b"10")]
    if accept:
        headers.append((b"accept", accept))
    stream = FakeStream(FakeRequest(method=b"POST", target=target, headers=headers))
    stream.cluster = SimpleNamespace(name="backend", stat_name="backend")
    return stream


def start(content_type=b"application/grpc-web", accept=None):
    factory = grpc_web.factory(grpc_web_config(), FilterContext(None, "http.x.", None))
    stream = make_stream(content_type, accept)
    filter_ = factory.create(stream)
    assert filter_.decode_headers(stream, False) is CONTINUE
    return factory, stream, filter_


def grpc_web_config():
    from hotproxy.config.http_filters.grpc_web import GrpcWeb
    return GrpcWeb()


@pytest.mark.parametrize("content_type", [
    b"application/grpc-web+json", b"application/grpc-web+proto; charset=utf-8",
    b"application/grpc", b"text/plain", None])
def test_other_requests_are_left_alone(content_type):
    factory = grpc_web.factory(grpc_web_config(), None)
    stream = FakeStream(FakeRequest(headers=[(b"content-type", content_type)] if content_type else []))
    assert factory.create(stream) is None


def test_the_request_becomes_grpc():
    _, stream, _ = start(b"application/grpc-web-text+proto")
    headers = dict(stream.request.headers)
    assert headers[b"content-type"] == b"application/grpc"
    assert headers[b"te"] == b"trailers" and headers[b"grpc-accept-encoding"] == b"identity"
    assert b"content-length" not in headers


def test_a_binary_body_passes_as_it_is():
    _, stream, filter_ = start()
    assert filter_.decode_data(stream, frame(b"hi"), True) is CONTINUE


def test_a_text_body_is_decoded_as_it_streams():
    _, stream, filter_ = start(b"application/grpc-web-text")
    encoded = base64.b64encode(frame(b"a")) + base64.b64encode(frame(b"bcd"))
    out = b""
    for index in range(0, len(encoded), 5):     # pieces that split base64 quanta
        piece = encoded[index:index + 5]
        result = filter_.decode_data(stream, piece, index + 5 >= len(encoded))
        out += result
        assert len(filter_.carry) < 4
    assert out == frame(b"a") + frame(b"bcd")


@pytest.mark.parametrize("body", [b"abc", b"ab!=", b"YQ==YQ=="])
def test_bad_base64_is_a_400_that_becomes_grpc_status_13(body):
    _, stream, filter_ = start(b"application/grpc-web-text")
    assert filter_.decode_data(stream, body, True) is STOP
    status, reply_body = stream.local_reply[:2]
    assert (status, reply_body) == (400, grpc_web.BAD_BASE64)
    # the request is gRPC-Web again, so that the reply is not a gRPC trailers-only one
    assert dict(stream.request.headers)[b"content-type"] == b"application/grpc-web-text"
    response = Response(400, [(b"content-type", b"text/plain")])
    assert filter_.encode_headers(stream, response, False) is STOP
    assert filter_.encode_data(stream, reply_body, True) == b""
    assert response.headers == [
        (b"content-type", b"application/grpc-web+proto"),
        (b"grpc-message", b"Bad gRPC-web request, invalid base64 data."),
        (b"grpc-status", b"13"), (b"content-length", b"0")]


def test_the_answer_ends_with_a_trailer_frame():
    factory, stream, filter_ = start()
    response = Response(200, [(b"content-type", b"application/grpc"), (b"content-length", b"7")])
    assert filter_.encode_headers(stream, response, False) is CONTINUE
    assert response.headers == [(b"content-type", b"application/grpc-web+proto")]
    assert filter_.encode_data(stream, frame(b"hi"), False) is CONTINUE
    trailers = [(b"grpc-status", b"0"), (b"x-trailer", b"t")]
    assert filter_.encode_trailers(stream, trailers) == (
        b"\x80\x00\x00\x00\x1cgrpc-status:0\r\nx-trailer:t\r\n")
    assert factory.stats.counters == ("backend.grpc-web.test.Echo.Say.0",
                                      "backend.grpc-web.test.Echo.Say.success",
                                      "backend.grpc-web.test.Echo.Say.total")


def test_a_text_answer_is_base64_piece_by_piece():
    _, stream, filter_ = start(b"application/grpc-web-text", accept=b"application/grpc-web-text")
    response = Response(200, [(b"content-type", b"application/grpc")])
    filter_.encode_headers(stream, response, False)
    assert response.headers == [(b"content-type", b"application/grpc-web-text+proto")]
    assert filter_.encode_data(stream, frame(b"hello"), False) == b"AAAAAAVoZWxsbw=="
    assert filter_.encode_trailers(stream, [(b"grpc-status", b"0"), (b"x-trailer", b"t")]) == (
        b"gAAAABxncnBjLXN0YXR1czowDQp4LXRyYWlsZXI6dA0K")


def test_a_text_request_without_text_accept_gets_binary():
    _, stream, filter_ = start(b"application/grpc-web-text")
    response = Response(200, [(b"content-type", b"application/grpc")])
    filter_.encode_headers(stream, response, False)
    assert response.headers == [(b"content-type", b"application/grpc-web+proto")]


def test_a_trailers_only_answer_stays_one_and_is_counted():
    factory, stream, filter_ = start()
    response = Response(200, [(b"content-type", b"application/grpc"), (b"grpc-status", b"5"),
                              (b"grpc-message", b"not found")])
    assert filter_.encode_headers(stream, response, True) is CONTINUE
    assert response.headers[0] == (b"content-type", b"application/grpc-web+proto")
    assert factory.stats.counters == ("backend.grpc-web.test.Echo.Say.5",
                                      "backend.grpc-web.test.Echo.Say.failure",
                                      "backend.grpc-web.test.Echo.Say.total")


@pytest.mark.parametrize("status, content_type, transformed", [
    (200, b"text/plain", True), (503, b"application/grpc", True), (404, b"text/html", True),
    (200, b"application/grpc+json", False), (200, b"application/grpc-web", False),
    (200, b"application/grpc-web+proto", False)])
def test_a_non_grpc_answer_becomes_trailers_only(status, content_type, transformed):
    _, stream, filter_ = start()
    response = Response(status, [(b"content-type", content_type), (b"content-length", b"4")])
    result = filter_.encode_headers(stream, response, False)
    assert result is (STOP if transformed else CONTINUE)
    if not transformed:
        return
    assert filter_.encode_data(stream, b"do", False) is STOP
    assert filter_.encode_data(stream, b"wn\n", True) == b""
    assert response.headers == [
        (b"content-type", b"application/grpc-web+proto"), (b"grpc-message", b"down%0A"),
        (b"grpc-status", b"%d" % {200: 2, 503: 14, 404: 12}[status]), (b"content-length", b"0")]


def test_a_long_non_grpc_answer_is_cut_at_the_limit():
    _, stream, filter_ = start()
    response = Response(500, [(b"content-type", b"text/plain")])
    filter_.encode_headers(stream, response, False)
    piece = b"x" * 50_000
    assert filter_.encode_data(stream, piece, False) is STOP
    assert filter_.encode_data(stream, piece, False) == b""     # sent on: the limit is reached
    assert filter_.encode_data(stream, piece, True) == b""      # the rest is dropped
    assert dict(response.headers)[b"grpc-message"] == b"x" * grpc_web.MESSAGE_LIMIT


def test_no_stats_without_a_cluster_or_a_method():
    factory, stream, filter_ = start()
    stream.cluster = None
    filter_.encode_trailers(stream, [(b"grpc-status", b"0")])
    stream.cluster = SimpleNamespace(name="backend", stat_name="backend")
    stream.request.target = b"/nomethod"
    filter_.encode_trailers(stream, [(b"grpc-status", b"0")])
    assert factory.stats.counters == ()
    [(prefix, stats)] = factory.stat_sets()
    assert prefix == "cluster." and stats is factory.stats
