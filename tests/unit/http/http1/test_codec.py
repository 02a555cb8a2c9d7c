"""The sans-IO HTTP/1.1 codecs, fed whole, byte by byte and in uneven chunks."""
import pytest

from hotproxy.errors import ProtocolError
from hotproxy.http.http1.codec import END, RequestDecoder, RequestHead, ResponseDecoder, ResponseHead

CHUNKINGS = ["whole", "bytewise", "uneven"]


def split(data, how):
    if how == "whole":
        return [data]
    if how == "bytewise":
        return [data[i:i + 1] for i in range(len(data))]
    sizes, out, i = [3, 7, 1, 13], [], 0
    while i < len(data):
        size = sizes[len(out) % len(sizes)]
        out.append(data[i:i + size])
        i += size
    return out


def feed(decoder, data, how):
    events = []
    for piece in split(data, how):
        decoder.feed(piece)
        events.extend(decoder.events)
        decoder.events.clear()
    return events


def body_of(events):
    return b"".join(e for e in events if isinstance(e, bytes))


@pytest.mark.parametrize("how", CHUNKINGS)
def test_request_head_fields(how):
    events = feed(RequestDecoder(), b"GET /a/b?x=1 HTTP/1.1\r\nHost: Example.com\r\nX-Thing: V\r\n\r\n", how)
    head, end = events
    assert isinstance(head, RequestHead) and end is END
    assert (head.method, head.target, head.version) == (b"GET", b"/a/b?x=1", "1.1")
    assert head.headers == [(b"host", b"Example.com"), (b"x-thing", b"V")]
    assert head.host == b"Example.com"
    assert head.keep_alive and not head.has_body and not head.hop_by_hop


@pytest.mark.parametrize("how", CHUNKINGS)
def test_content_length_body(how):
    events = feed(RequestDecoder(), b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", how)
    assert events[0].content_length == 11 and events[0].has_body
    assert body_of(events) == b"hello world"
    assert events[-1] is END


@pytest.mark.parametrize("how", CHUNKINGS)
def test_chunked_body_is_unframed(how):
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    events = feed(RequestDecoder(), raw, how)
    assert events[0].chunked and events[0].hop_by_hop
    assert body_of(events) == b"hello world"
    assert events[-1] is END


def test_pipelined_requests_come_out_in_order():
    raw = b"".join(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(3))
    events = feed(RequestDecoder(), raw, "whole")
    assert [e.target for e in events if isinstance(e, RequestHead)] == [b"/0", b"/1", b"/2"]
    assert events.count(END) == 3


def test_http10_is_not_keep_alive_unless_asked():
    head = feed(RequestDecoder(), b"GET / HTTP/1.0\r\n\r\n", "whole")[0]
    assert head.version == "1.0" and not head.keep_alive
    head = feed(RequestDecoder(), b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "whole")[0]
    assert head.keep_alive


def test_connection_close_ends_keep_alive():
    head = feed(RequestDecoder(), b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "whole")[0]
    assert not head.keep_alive and head.connection == b"close"


def test_expect_continue_and_upgrade_are_seen():
    head = feed(RequestDecoder(), b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", "whole")[0]
    assert head.expect_continue
    decoder = RequestDecoder()
    head = feed(decoder, b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nTUNNEL", "whole")[0]
    assert head.upgrade == b"websocket"
    assert decoder.upgrade_tail == b"TUNNEL"


@pytest.mark.parametrize("raw, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
])
def test_malformed_requests_map_to_envoy_statuses(raw, status):
    with pytest.raises(ProtocolError) as caught:
        feed(RequestDecoder(), raw, "whole")
    assert caught.value.status == status


@pytest.mark.parametrize("how", ["whole", "uneven"])
def test_oversized_headers_are_431(how):
    raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 2048 + b"\r\n\r\n"
    with pytest.raises(ProtocolError) as caught:
        feed(RequestDecoder(max_headers_bytes=1024), raw, how)
    assert caught.value.status == 431


def test_header_bytes_are_bounded_before_the_head_ends():
    decoder = RequestDecoder(max_headers_bytes=1024)
    decoder.feed(b"GET / HTTP/1.1\r\nX-Slow: ")
    with pytest.raises(ProtocolError) as caught:
        for _ in range(100):
            decoder.feed(b"a" * 1024)
    assert caught.value.status == 431


def test_too_many_headers_is_431():
    raw = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(5)) + b"\r\n"
    with pytest.raises(ProtocolError) as caught:
        feed(RequestDecoder(max_headers_count=4), raw, "whole")
    assert caught.value.status == 431


@pytest.mark.parametrize("how", CHUNKINGS)
def test_response_with_content_length(how):
    events = feed(ResponseDecoder(), b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello", how)
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.content_length, head.keep_alive) == (200, b"5", True)
    assert body_of(events) == b"hello" and events[-1] is END


@pytest.mark.parametrize("how", CHUNKINGS)
def test_chunked_response(how):
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    events = feed(ResponseDecoder(), raw, how)
    assert events[0].chunked and events[0].headers == []  # hop-by-hop: read, not kept
    assert body_of(events) == b"abc" and events[-1] is END


def test_close_delimited_response_ends_at_eof():
    decoder = ResponseDecoder()
    events = feed(decoder, b"HTTP/1.1 200 OK\r\n\r\npartial", "whole")
    assert END not in events
    assert decoder.feed_eof()[-1] is END


def test_eof_inside_a_framed_body_is_an_error():
    decoder = ResponseDecoder()
    feed(decoder, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "whole")
    with pytest.raises(ProtocolError):
        decoder.feed_eof()


def test_head_response_has_no_body_and_parser_continues():
    decoder = ResponseDecoder()
    decoder.expect_no_body()
    events = feed(decoder, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "whole")
    assert [type(e).__name__ for e in events] == ["ResponseHead", "object"] and events[-1] is END
    assert not decoder.excess
    events = feed(decoder, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "whole")
    assert body_of(events) == b"ok"


def test_interim_100_continue_is_swallowed():
    events = feed(ResponseDecoder(), b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", "whole")
    assert [e.status for e in events if isinstance(e, ResponseHead)] == [204]
    assert events[-1] is END


def test_garbage_response_is_502():
    with pytest.raises(ProtocolError) as caught:
        feed(ResponseDecoder(), b"NOT HTTP AT ALL\r\n\r\n", "whole")
    assert caught.value.status == 502
