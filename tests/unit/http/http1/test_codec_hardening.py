"""What a hostile peer can make the HTTP/1.1 decoders hold or believe (issue: smuggling, response
injection, head floods): bounded head and trailer sections, excess bytes after a response,
Connection nominations, and the events of requests that precede a malformed one."""
import pytest

from hotproxy.errors import ProtocolError
from hotproxy.http.http1.codec import END, RequestDecoder, RequestHead, ResponseDecoder, ResponseHead

from test_codec import CHUNKINGS, body_of, feed


def response_head_of(total_size):
    """A response head of exactly ``total_size`` bytes, status line and final CRLF included."""
    base = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-big: \r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-big: " + b"a" * (total_size - len(base)) + b"\r\n\r\n"


# --- response head bounds (Envoy: 80 KiB and 100 headers by default) --------------------------

@pytest.mark.parametrize("how", ["whole", "uneven"])
def test_a_response_head_of_80_kib_passes_and_one_byte_more_is_502(how):
    events = feed(ResponseDecoder(), response_head_of(80 * 1024) + b"ok", how)
    assert body_of(events) == b"ok"
    with pytest.raises(ProtocolError) as caught:
        feed(ResponseDecoder(), response_head_of(80 * 1024 + 1) + b"ok", how)
    assert (caught.value.status, caught.value.details) == (502, "upstream.headers_too_large")


def test_100_response_headers_pass_and_101_are_502():
    def with_headers(n):
        return (b"HTTP/1.1 200 OK\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(n - 1))
                + b"Content-Length: 0\r\n\r\n")
    assert feed(ResponseDecoder(), with_headers(100), "whole")[-1] is END
    with pytest.raises(ProtocolError) as caught:
        feed(ResponseDecoder(), with_headers(101), "whole")
    assert caught.value.status == 502


def test_configured_response_bounds_apply():
    with pytest.raises(ProtocolError):
        feed(ResponseDecoder(max_headers_bytes=1024), response_head_of(1025), "whole")
    with pytest.raises(ProtocolError):
        feed(ResponseDecoder(max_headers_count=2),
             b"HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", "whole")


def test_an_endless_response_head_is_refused_within_the_limit_plus_one_read():
    decoder = ResponseDecoder(max_headers_bytes=4096)
    decoder.feed(b"HTTP/1.1 200 OK\r\nx-endless: ")
    fed = 0
    with pytest.raises(ProtocolError):
        while fed < 10 * 4096:
            decoder.feed(b"a" * 1024)
            fed += 1024
    assert fed <= 4096 + 1024


def test_an_endless_stream_of_small_response_headers_is_refused_at_the_count():
    decoder = ResponseDecoder()
    decoder.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProtocolError):
        for i in range(1000):
            decoder.feed(b"x-%d: v\r\n" % i)
    assert i <= 101  # llhttp completes a header when the next line begins


# --- trailers are bounded and dropped ----------------------------------------------------------

@pytest.mark.parametrize("how", CHUNKINGS)
def test_response_trailers_never_join_the_head(how):
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
           b"x-trailer: 1\r\nserver: evil\r\n\r\n")
    events = feed(ResponseDecoder(), raw, how)
    head = events[0]
    assert head.headers == []  # transfer-encoding is read, not kept
    assert head.content_length is None and head.chunked
    assert body_of(events) == b"ok" and events[-1] is END


def test_response_trailers_are_bounded_like_a_head():
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
           + b"".join(b"x-t%d: v\r\n" % i for i in range(101)) + b"\r\n")
    with pytest.raises(ProtocolError) as caught:
        feed(ResponseDecoder(), raw, "whole")
    assert caught.value.status == 502


@pytest.mark.parametrize("how", CHUNKINGS)
def test_request_trailers_never_change_the_head(how):
    raw = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
           b"host: evil\r\nexpect: 100-continue\r\nx-forwarded-for: 6.6.6.6\r\n\r\n")
    events = feed(RequestDecoder(), raw, how)
    head = events[0]
    assert head.headers == [(b"host", b"h"), (b"transfer-encoding", b"chunked")]
    assert (head.host, head.expect_continue) == (b"h", False)
    assert body_of(events) == b"ok" and events[-1] is END


def test_request_trailers_are_bounded():
    raw = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
           b"x-t: " + b"a" * 2048 + b"\r\n\r\n")
    with pytest.raises(ProtocolError) as caught:
        feed(RequestDecoder(max_headers_bytes=1024), raw, "uneven")
    assert caught.value.status == 431


@pytest.mark.parametrize("raw, status", [
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\ncontent-length: 5\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\ntransfer-encoding: chunked\r\n\r\n", 400),
])
def test_framing_headers_in_request_trailers_are_refused(raw, status):
    with pytest.raises(ProtocolError) as caught:
        feed(RequestDecoder(), raw, "whole")
    assert caught.value.status == status


def test_an_endless_chunk_extension_is_400_not_memory():
    decoder = RequestDecoder(max_headers_bytes=4096)
    decoder.feed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=")
    with pytest.raises(ProtocolError) as caught:
        for _ in range(100):
            decoder.feed(b"a" * 1024)
    assert caught.value.status == 400


def test_a_large_body_after_a_slowly_arriving_head_is_not_mistaken_for_a_large_head():
    decoder = RequestDecoder(max_headers_bytes=1024)
    decoder.feed(b"POST / HTTP/1.1\r\nHost: h\r\nX-A: ")
    events = decoder.feed(b"b\r\nContent-Length: 60000\r\n\r\n" + b"x" * 60000)
    assert isinstance(events[0], RequestHead) and events[-1] is END


# --- nothing after a response's end is parsed as a response ------------------------------------

def test_response_hop_by_hop_headers_are_read_but_not_kept():
    head = feed(ResponseDecoder(), b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nServer: up\r\n"
                                   b"Keep-Alive: timeout=5\r\nConnection: x-foo\r\nDate: d\r\n"
                                   b"Content-Length: 0\r\n\r\n", "whole")[0]
    assert head.headers == [(b"server", b"up"), (b"date", b"d"), (b"content-length", b"0")]
    assert (head.connection, head.server_at, head.has_date) == (b"keep-alive,x-foo", 0, True)


def test_hop_by_hop_response_headers_count_towards_the_bounds():
    raw = b"HTTP/1.1 200 OK\r\n" + b"keep-alive: x\r\n" * 101 + b"\r\n"
    with pytest.raises(ProtocolError):
        feed(ResponseDecoder(), raw, "whole")


def test_a_second_response_behind_the_first_is_excess_not_an_event():
    decoder = ResponseDecoder()
    events = feed(decoder, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                           b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected", "whole")
    assert [e for e in events if isinstance(e, ResponseHead)] == [events[0]]
    assert body_of(events) == b"ok" and events[-1] is END
    assert decoder.excess


@pytest.mark.parametrize("tail", [b"garbage", b"HTTP/1.1 2", b"x"])
def test_any_bytes_behind_a_response_are_excess(tail):
    decoder = ResponseDecoder()
    feed(decoder, b"HTTP/1.1 204 No Content\r\n\r\n" + tail, "whole")
    assert decoder.excess


def test_bytes_behind_a_head_response_are_excess():
    decoder = ResponseDecoder()
    decoder.expect_no_body()
    feed(decoder, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "whole")
    assert decoder.excess


def test_the_next_exchange_starts_clean():
    decoder = ResponseDecoder()
    feed(decoder, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "whole")
    assert not decoder.excess
    events = feed(decoder, b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", "whole")
    assert events[0].status == 201 and not decoder.excess


def test_interim_responses_are_not_excess():
    decoder = ResponseDecoder()
    feed(decoder, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "whole")
    assert not decoder.excess


# --- Connection nominations ----------------------------------------------------------------

def request_with_connection(value, extra=b""):
    return b"POST / HTTP/1.1\r\nHost: h\r\nConnection: " + value + b"\r\n" + extra + b"Content-Length: 5\r\n\r\nhello"


@pytest.mark.parametrize("value", [b"content-length", b"keep-alive, Content-Length", b"transfer-encoding"])
def test_framing_headers_are_never_nominated(value):
    events = feed(RequestDecoder(), request_with_connection(value), "whole")
    head = events[0]
    assert b"content-length" not in head.nominated and b"transfer-encoding" not in head.nominated
    assert head.content_length == 5 and body_of(events) == b"hello"


@pytest.mark.parametrize("value", [b"x-forwarded-for", b"X-Forwarded-Proto", b"keep-alive, x-forwarded-host",
                                   b":authority", b"a1,a2,a3,a4,a5,a6,a7,a8,a9,a10",
                                   b"keep-alive,a1,a2,a3,a4,a5,a6,a7,a8,a9"])
def test_nominations_envoy_refuses_are_400(value):
    with pytest.raises(ProtocolError) as caught:
        feed(RequestDecoder(), request_with_connection(value), "whole")
    assert caught.value.status == 400


def test_nine_tokens_and_ordinary_names_are_nominated():
    head = feed(RequestDecoder(), request_with_connection(b"keep-alive,a1,a2,a3,a4,a5,a6,a7,X-Foo"), "whole")[0]
    assert head.nominated == {b"a1", b"a2", b"a3", b"a4", b"a5", b"a6", b"a7", b"x-foo"}


def test_nominating_host_leaves_a_request_without_host():
    head = feed(RequestDecoder(), request_with_connection(b"host"), "whole")[0]
    assert head.host is None


# --- pipelined requests before a malformed one --------------------------------------------

def test_events_of_complete_requests_survive_the_error_that_follows_them():
    decoder = RequestDecoder()
    raw = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nBAD\r\n\r\n"
    with pytest.raises(ProtocolError):
        decoder.feed(raw)
    assert [e.target for e in decoder.events if isinstance(e, RequestHead)] == [b"/1", b"/2"]
    assert decoder.events.count(END) == 2
