"""The HTTP/1.1 codec under the HTTP/2 client codec's interface (http1/stream_client.py), which
an auto_config cluster's http/1.1 connections use: request heads and bodies as HTTP/1.1 bytes,
responses as HTTP/2 events, one stream at a time, and when a connection may carry no more."""
import pytest

from hotproxy.config.cluster import Cluster
from hotproxy.http.http1.stream_client import Http1StreamCodec, NoStreamAvailable, codec_factory_for


def request(method=b"GET", path=b"/p", authority=b"up.example", extra=()):
    return [(b":method", method), (b":scheme", b"https"), (b":authority", authority),
            (b":path", path), *extra]


def kinds(events):
    return [type(event).__name__ for event in events]


def test_a_bodiless_request_is_one_head_with_host_from_the_authority():
    codec = Http1StreamCodec()
    codec.send_request(request(extra=[(b"x-a", b"1")]), True)
    assert codec.data_to_send() == b"GET /p HTTP/1.1\r\nhost: up.example\r\nx-a: 1\r\n\r\n"
    assert codec.data_to_send() == b""


def test_a_post_without_a_body_says_content_length_0():
    codec = Http1StreamCodec()
    codec.send_request(request(b"POST"), True)
    assert codec.data_to_send().endswith(b"content-length: 0\r\n\r\n")


def test_a_body_without_a_length_is_chunked():
    codec = Http1StreamCodec()
    stream = codec.send_request(request(b"POST"), False)
    assert codec.send_data(stream, memoryview(b"hello"), False) == 5
    codec.send_data(stream, b"", True)
    assert codec.data_to_send() == (b"POST /p HTTP/1.1\r\nhost: up.example\r\ntransfer-encoding: chunked"
                                    b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")


def test_a_body_with_a_length_goes_as_is():
    codec = Http1StreamCodec()
    stream = codec.send_request(request(b"PUT", extra=[(b"content-length", b"3")]), False)
    codec.send_data(stream, b"abc", True)
    assert codec.data_to_send().endswith(b"content-length: 3\r\n\r\nabc")


def test_a_response_becomes_events_and_the_connection_takes_the_next_request():
    codec = Http1StreamCodec()
    stream = codec.send_request(request(), True)
    assert codec.available_streams == 0
    with pytest.raises(NoStreamAvailable):
        codec.send_request(request(), True)
    events = codec.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nx-b: 2\r\n\r\nab")
    assert kinds(events) == ["ResponseHeaders", "ResponseData"]
    assert (events[0].stream_id, events[0].status, events[0].end_stream) == (stream, 200, False)
    assert (b"x-b", b"2") in events[0].headers and events[1].data == b"ab"
    events = codec.receive(b"cd")
    assert kinds(events) == ["ResponseData", "ResponseData"] and events[-1].end_stream
    assert codec.available_streams == 1
    assert codec.send_request(request(), True) != stream


def test_a_bodiless_response_ends_with_its_head():
    codec = Http1StreamCodec()
    codec.send_request(request(b"HEAD"), True)
    events = codec.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
    assert kinds(events) == ["ResponseHeaders"] and events[0].end_stream
    assert codec.available_streams == 1


def test_connection_close_ends_the_connection_after_the_response():
    codec = Http1StreamCodec()
    stream = codec.send_request(request(), True)
    events = codec.receive(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbody")
    assert kinds(events) == ["ResponseHeaders", "ResponseData"]
    events = codec.receive_eof()     # the body ran to the close
    assert kinds(events) == ["ResponseData", "GoAwayReceived"] and events[0].end_stream
    assert events[1].last_stream_id == stream and codec.available_streams == 0


def test_a_response_before_the_request_ended_leaves_the_connection_unusable():
    codec = Http1StreamCodec()
    codec.send_request(request(b"POST"), False)
    events = codec.receive(b"HTTP/1.1 413 Too Large\r\ncontent-length: 0\r\n\r\n")
    assert kinds(events) == ["ResponseHeaders", "GoAwayReceived"]
    assert codec.available_streams == 0


def test_bytes_while_idle_are_a_connection_error():
    codec = Http1StreamCodec()
    events = codec.receive(b"HTTP/1.1 200 OK\r\n\r\n")
    assert kinds(events) == ["ConnectionError"] and codec.available_streams == 0


def test_a_malformed_response_ends_the_stream_and_the_connection():
    codec = Http1StreamCodec()
    stream = codec.send_request(request(), True)
    events = codec.receive(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n")
    assert kinds(events) == ["StreamError", "ConnectionError"] and events[0].stream_id == stream


def test_a_cut_response_ends_the_stream():
    codec = Http1StreamCodec()
    codec.send_request(request(), True)
    codec.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab")
    assert kinds(codec.receive_eof()) == ["StreamError", "ConnectionError"]


def test_an_abandoned_exchange_leaves_the_connection_unusable():
    codec = Http1StreamCodec()
    stream = codec.send_request(request(), True)
    codec.reset(stream, 0x8)
    assert codec.available_streams == 0


def test_trailers_only_with_enable_trailers():
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\ngrpc-status: 0\r\n\r\n"
    codec = Http1StreamCodec(enable_trailers=True)
    codec.send_request(request(), True)
    events = codec.receive(chunked)
    assert kinds(events) == ["ResponseHeaders", "ResponseData", "ResponseTrailers"]
    assert events[-1].headers == [(b"grpc-status", b"0")]
    codec = Http1StreamCodec()
    codec.send_request(request(), True)
    assert kinds(codec.receive(chunked)) == ["ResponseHeaders", "ResponseData", "ResponseData"]


def test_response_head_bounds_apply():
    codec = Http1StreamCodec(max_headers_count=2)
    codec.send_request(request(), True)
    events = codec.receive(b"HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\nc: 3\r\ncontent-length: 0\r\n\r\n")
    assert kinds(events) == ["StreamError", "ConnectionError"]
    assert events[0].reason == "upstream.headers_too_large"


def test_only_auto_config_clusters_get_the_factory():
    assert codec_factory_for(Cluster(name="c")) is None
    factory = codec_factory_for(Cluster(name="c", auto_http=True, http2_options=()))
    assert isinstance(factory(), Http1StreamCodec)


def test_an_extended_connect_goes_as_an_upgrade_and_its_101_comes_back_as_a_200():
    codec = Http1StreamCodec()
    stream = codec.send_request(request(b"CONNECT", b"/chat", extra=[(b":protocol", b"websocket"),
                                                                     (b"sec-websocket-key", b"k")]), False)
    assert codec.data_to_send() == (b"GET /chat HTTP/1.1\r\nhost: up.example\r\nsec-websocket-key: k\r\n"
                                    b"connection: upgrade\r\nupgrade: websocket\r\n\r\n")
    events = codec.receive(b"HTTP/1.1 101 Switching\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
                           b"sec-websocket-accept: a\r\n\r\nhello")
    assert kinds(events) == ["ResponseHeaders", "ResponseData"]
    assert events[0].status == 200 and (b"sec-websocket-accept", b"a") in events[0].headers
    assert events[1].data == b"hello"
    codec.send_data(stream, b"ping", False)
    assert codec.data_to_send() == b"ping"
    assert [e.data for e in codec.receive(b"pong")] == [b"pong"]
    assert kinds(codec.receive_eof()) == ["ResponseData", "GoAwayReceived"]
    assert codec.available_streams == 0


def test_a_connect_goes_to_its_authority_and_a_refusal_is_a_response():
    codec = Http1StreamCodec()
    codec.send_request([(b":method", b"CONNECT"), (b":authority", b"db:5432")], False)
    assert codec.data_to_send() == b"CONNECT db:5432 HTTP/1.1\r\nhost: db:5432\r\n\r\n"
    events = codec.receive(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno")
    assert kinds(events) == ["ResponseHeaders", "ResponseData", "ResponseData", "GoAwayReceived"]
    assert events[0].status == 403 and events[2].end_stream
    codec = Http1StreamCodec()
    codec.send_request([(b":method", b"CONNECT"), (b":authority", b"db:5432")], False)
    events = codec.receive(b"HTTP/1.1 200 OK\r\n\r\n")
    assert kinds(events) == ["ResponseHeaders"] and events[0].status == 200
    assert [e.data for e in codec.receive(b"\x00\x01")] == [b"\x00\x01"]
