"""The gRPC HTTP/1.1 bridge, sans-IO: trailers into the response head, 503 on a failure,
protobuf requests framed and answers unframed, query strings dropped."""
import struct

from hotproxy.config.http_filters.grpc_http1_bridge import GrpcHttp1Bridge
from hotproxy.http.filters import grpc_http1_bridge
from hotproxy.http.filters.api import CONTINUE, STOP, Response

from filter_fakes import FakeRequest, FakeStream


def start(config=GrpcHttp1Bridge(), content_type=b"application/grpc", protocol="HTTP/1.1",
          target=b"/test.Echo/Say?x=1"):
    factory = grpc_http1_bridge.factory(config, None)
    stream = FakeStream(FakeRequest(method=b"POST", target=target, headers=[
        (b"content-type", content_type), (b"content-length", b"5")]))
    stream.connection.protocol = protocol
    stream.target = target
    filter_ = factory.create(stream)
    if filter_ is not None:
        assert filter_.decode_headers(stream, False) is CONTINUE
    return stream, filter_


def answer(filter_, stream, trailers, body=b"\x00\x00\x00\x00\x01x"):
    response = Response(200, [(b"content-type", b"application/grpc")])
    assert filter_.encode_headers(stream, response, False) is STOP
    assert filter_.encode_data(stream, body, False) is STOP
    assert filter_.encode_trailers(stream, trailers) is CONTINUE
    return response, filter_.encode_data(stream, b"", True)


def test_the_outcome_moves_into_the_head():
    stream, filter_ = start()
    response, last = answer(filter_, stream, [(b"grpc-status", b"0"), (b"x-t", b"t")])
    assert last is CONTINUE and response.status == 200
    assert response.headers == [(b"content-type", b"application/grpc"), (b"grpc-status", b"0"),
                                (b"content-length", b"6")]


def test_a_failure_is_a_503():
    stream, filter_ = start()
    response, _ = answer(filter_, stream, [(b"grpc-status", b"13"), (b"grpc-message", b"bad")])
    assert response.status == 503
    assert dict(response.headers)[b"grpc-message"] == b"bad"


def test_trailers_only_and_untrailed_answers_pass():
    stream, filter_ = start()
    assert filter_.encode_headers(stream, Response(200, [(b"grpc-status", b"5")]), True) is CONTINUE
    stream, filter_ = start()
    response = Response(200, [(b"content-type", b"text/plain"), (b"content-length", b"2")])
    filter_.encode_headers(stream, response, False)
    assert filter_.encode_data(stream, b"hi", True) is CONTINUE
    assert response.headers[1] == (b"content-length", b"2")


def test_http2_clients_and_other_requests_are_not_bridged():
    _, filter_ = start(protocol="HTTP/2")
    assert filter_.encode_headers(None, Response(200, []), False) is CONTINUE
    assert start(content_type=b"application/x-protobuf")[1] is None
    assert start(content_type=b"application/grpc-web")[1] is None


def test_a_too_big_answer_goes_on_unbridged():
    stream, filter_ = start()
    filter_.encode_headers(stream, Response(200, []), False)
    assert filter_.encode_data(stream, b"x" * (grpc_http1_bridge.BODY_LIMIT + 1), False) is CONTINUE
    assert filter_.encode_trailers(stream, [(b"grpc-status", b"0")]) is CONTINUE


def test_ignore_query_parameters():
    stream, _ = start(GrpcHttp1Bridge(ignore_query_parameters=True))
    assert stream.request.target == stream.target == b"/test.Echo/Say"
    stream, _ = start(GrpcHttp1Bridge())
    assert stream.target == b"/test.Echo/Say?x=1"


def test_protobuf_is_upgraded_to_one_grpc_message():
    config = GrpcHttp1Bridge(upgrade_protobuf_to_grpc=True)
    stream, filter_ = start(config, content_type=b"application/x-protobuf")
    assert dict(stream.request.headers) == {b"host": b"example.com",
                                            b"content-type": b"application/grpc"}
    assert stream.route_cleared
    assert filter_.decode_data(stream, b"hel", False) is STOP
    assert filter_.decode_data(stream, b"lo", True) == struct.pack(">BI", 0, 5) + b"hello"
    response, last = answer(filter_, stream, [(b"grpc-status", b"0")],
                            body=struct.pack(">BI", 0, 5) + b"hello")
    assert last == b"hello" and dict(response.headers)[b"content-length"] == b"5"


def test_a_too_big_protobuf_request_is_413():
    config = GrpcHttp1Bridge(upgrade_protobuf_to_grpc=True)
    stream, filter_ = start(config, content_type=b"application/x-protobuf")
    filter_.decode_data(stream, b"x" * (grpc_http1_bridge.BODY_LIMIT + 1), False)
    assert stream.local_reply[0] == 413
