"""Inputs the fuzzers (tests/fuzz/, docs/fuzzing.md) found the decoders mishandling, each reduced
to the smallest case: what a request or response means must not depend on how it is cut into
reads, and nothing but a ProtocolError may escape."""
import pytest

from hotproxy.errors import ProtocolError
from hotproxy.http.http1.codec import END, RequestDecoder, RequestHead, ResponseDecoder, ResponseHead


def every_cut(data):
    """``data`` whole, and cut in two at every point."""
    yield [data]
    for at in range(1, len(data)):
        yield [data[:at], data[at:]]


def decode(decoder, reads):
    events = []
    for data in reads:
        events.extend(decoder.feed(data))
        decoder.events.clear()
    return events


@pytest.mark.parametrize("line", [b"GET /lf HTTP/1.1\n", b"GET  /lf  HTTP/1.1\n"])
def test_a_request_line_ended_by_a_bare_lf_is_read_however_it_is_cut(line):
    raw = line + b"Host: a\nX-A: b\n\n"
    for reads in every_cut(raw):
        head, end = decode(RequestDecoder(), reads)
        assert (head.method, head.target, head.headers) == (b"GET", b"/lf", [(b"host", b"a"), (b"x-a", b"b")])
        assert end is END


@pytest.mark.parametrize("raw", [b"GET /lf HTTP/1.1\nHost: a\n\n", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                                 b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"])
def test_mid_message_holds_from_the_first_byte_of_a_request_to_its_end_however_it_is_cut(raw):
    for reads in every_cut(raw):
        decoder = RequestDecoder()
        assert not decoder.mid_message
        for data in reads[:-1]:
            decoder.feed(data)
            assert decoder.mid_message
        assert decoder.feed(reads[-1])[-1] is END and not decoder.mid_message


def test_a_request_line_cut_into_three_reads_and_an_empty_one_before_its_bare_lf():
    head, end = decode(RequestDecoder(), [b"GET /lf HT", b"", b"TP/1.1", b"\nHost: a\n\n"])
    assert head.target == b"/lf" and end is END


@pytest.mark.parametrize("raw", [b"GET /1 HTTP/1.11\nHost: a\n\n", b"GET / HTTP/1.1X HTTP/1.1\nHost: a\n\n",
                                 b"GET /1 HTTP/1.1\rET /2 HTTP/1.1\nHost: a\r\n\r\n"])
def test_what_follows_the_version_is_never_skipped_to_find_a_bare_lf(raw):
    for reads in every_cut(raw):
        with pytest.raises(ProtocolError) as caught:
            decode(RequestDecoder(), reads)
        assert caught.value.status == 400


def test_a_request_refused_once_its_bare_lf_line_is_read_again_raises_protocol_error():
    # The re-read happened while llhttp's error was being handled, and the callback's
    # ProtocolError was lost behind it (an HttpParserCallbackError escaped).
    with pytest.raises(ProtocolError) as caught:
        RequestDecoder().feed(b"GET http:///lf HTTP/1.1\nHost: a\n\n")
    assert (caught.value.status, caught.value.details) == (400, "http1.invalid_url")


@pytest.mark.parametrize("framing, status, details", [
    (b"Content-Length: 3\r\n\r\nabc", 400, "http1.body_disallowed"),
    (b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, "http1.invalid_transfer_encoding"),
])
def test_a_connect_with_a_body_is_refused_as_envoy_refuses_it(framing, status, details):
    # llhttp hands what follows a CONNECT's head to the tunnel, so the declared body would
    # have reached the upstream as tunnel data.
    with pytest.raises(ProtocolError) as caught:
        RequestDecoder().feed(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n" + framing)
    assert (caught.value.status, caught.value.details) == (status, details)


def test_a_connect_with_an_empty_body_is_a_tunnel():
    decoder = RequestDecoder()
    head, end = decoder.feed(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 0\r\n\r\n\x16\x03")
    assert head.method == b"CONNECT" and end is END and decoder.upgrade_tail == b"\x16\x03"


@pytest.mark.parametrize("raw", [b"HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
                                 b"HTTP/1.1 200 OK\nContent-Length: 5\n\n"])
def test_a_head_response_with_nothing_behind_it_is_not_excess_however_it_is_cut(raw):
    for reads in [*every_cut(raw), [raw[at:at + 1] for at in range(len(raw))]]:
        decoder = ResponseDecoder()
        decoder.expect_no_body()
        head, end = decode(decoder, reads)
        assert isinstance(head, ResponseHead) and end is END
        assert not decoder.excess, reads


def test_bytes_behind_a_head_response_with_a_bare_lf_head_are_excess():
    decoder = ResponseDecoder()
    decoder.expect_no_body()
    decoder.feed(b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello")
    assert decoder.excess


def test_the_upstream_closing_inside_a_status_line_is_a_protocol_error():
    decoder = ResponseDecoder()
    decoder.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 20")
    with pytest.raises(ProtocolError) as caught:
        decoder.feed_eof()
    assert (caught.value.status, caught.value.details) == (502, "upstream.reset_before_complete")


@pytest.mark.parametrize("status", [b"000", b"099"])
def test_a_status_below_100_is_refused_not_read_as_an_interim_response(status):
    # llhttp reads any three digits; taken as a 1xx, the bytes behind the head came out as
    # body bytes of no response at all.
    with pytest.raises(ProtocolError) as caught:
        ResponseDecoder().feed(b"HTTP/1.1 " + status + b" Low\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert caught.value.status == 502


def test_response_header_values_lose_their_trailing_whitespace_as_request_ones_do():
    decoder = ResponseDecoder()
    head, body, end = decoder.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\t\r\nX-A: b \r\n\r\nk")
    assert head.content_length == b"1" and (b"x-a", b"b") in head.headers
    assert (body, end) == (b"k", END)
    request = RequestDecoder().feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b \t\r\n\r\n")[0]
    assert isinstance(request, RequestHead) and (b"x-a", b"b") in request.headers


def head_with_a_header_of(size):
    return b"X-Long: " + b"v" * size + b"\r\n"


def test_a_request_behind_another_in_the_same_read_is_held_to_the_head_limit():
    # Its head's bytes were counted from where the one before it ended, so none at all.
    first = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    second = b"GET /2 HTTP/1.1\r\nHost: a\r\n" + head_with_a_header_of(600) + b"\r\n"
    decoder = RequestDecoder(max_headers_bytes=512)
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(first + second)
    assert caught.value.status == 431
    assert [event.target for event in decoder.events if isinstance(event, RequestHead)] == [b"/1"]


def test_a_response_behind_an_interim_one_in_the_same_read_is_held_to_the_head_limit():
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + head_with_a_header_of(600) + b"\r\n"
    with pytest.raises(ProtocolError) as caught:
        ResponseDecoder(max_headers_bytes=512).feed(b"HTTP/1.1 100 Continue\r\n\r\n" + response)
    assert (caught.value.status, caught.value.details) == (502, "upstream.headers_too_large")


@pytest.mark.parametrize("byte", [b"\x0b", b"\x0c", b"\x1c", b"\x1f", b"\x85", b"\xa0"])
def test_a_value_ending_in_whitespace_other_than_space_or_tab_is_refused_or_kept(byte):
    # The decoders strip with bytes.rstrip() (decoding.py): llhttp must refuse the ASCII
    # whitespace that is not a space or a tab, and what bytes.rstrip() does not strip stays.
    for decoder, first in ((RequestDecoder(), b"GET / HTTP/1.1\r\nHost: a\r\n"),
                           (ResponseDecoder(), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")):
        try:
            events = decoder.feed(first + b"X-A: b" + byte + b"\r\n\r\n")
        except ProtocolError:
            assert byte in (b"\x0b", b"\x0c", b"\x1c", b"\x1f")
        else:
            assert byte not in (b"\x0b", b"\x0c") and (b"x-a", b"b" + byte) in events[0].headers


def test_a_trailer_value_ending_in_a_vertical_tab_or_form_feed_is_refused():
    for byte in (b"\x0b", b"\x0c"):
        with pytest.raises(ProtocolError):
            RequestDecoder().feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"1\r\nk\r\n0\r\nX-T: v" + byte + b"\r\n\r\n")
    *_, end = RequestDecoder().feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"1\r\nk\r\n0\r\nX-T: v \t\r\n\r\n")
    assert end is END
