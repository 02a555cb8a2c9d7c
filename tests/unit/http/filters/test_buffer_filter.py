"""The buffer filter, sans-IO."""
from hotproxy.config.http_filters.buffer import Buffer, BufferPerRoute
from hotproxy.http.filters import buffer
from hotproxy.http.filters.api import FilterContext

from filter_fakes import FakeRequest, FakeStream


def make(limit=10):
    factory = buffer.factory(Buffer(limit), FilterContext(None, "http.ingress.", None))
    factory.name = "envoy.filters.http.buffer"
    return factory


def stream_with(headers=(), per_route=None):
    return FakeStream(FakeRequest(method=b"POST", headers=list(headers)), route=object(),
                      per_route={"envoy.filters.http.buffer": per_route} if per_route else None)


def test_whole_body_goes_on_in_one_piece_with_a_length():
    stream = stream_with()
    passed, body = stream.run_request(make().create(stream), [b"abc", b"def", b"g"])
    assert passed is True and body == b"abcdefg"
    assert (b"content-length", b"7") in stream.request.headers


def test_existing_length_is_kept():
    stream = stream_with([(b"content-length", b"3")])
    assert stream.run_request(make().create(stream), [b"abc"]) == (True, b"abc")
    assert [v for k, v in stream.request.headers if k == b"content-length"] == [b"3"]


def test_headers_only_request_passes():
    stream = stream_with()
    assert stream.run_request(make().create(stream)) == (True, b"")
    assert all(name != b"content-length" for name, _ in stream.request.headers)


def test_over_the_limit_is_413():
    stream = stream_with()
    stream.run_request(make(5).create(stream), [b"abc", b"def"])
    assert stream.local_reply[:2] == (413, b"Payload Too Large")
    assert stream.local_reply[3] == "request_payload_too_large"
    exact = stream_with()
    assert exact.run_request(make(6).create(exact), [b"abc", b"def"]) == (True, b"abcdef")


def test_per_route():
    factory = make(5)
    assert factory.create(stream_with(per_route=BufferPerRoute(None))) is None
    stream = stream_with(per_route=BufferPerRoute(Buffer(100)))
    assert stream.run_request(factory.create(stream), [b"x" * 50]) == (True, b"x" * 50)
