"""Trailers of chunked messages as the HTTP/1.1 decoders keep them (for enable_trailers), and the
last chunk that carries them on: however the bytes are split, in order, lower-cased names."""
import pytest

from hotproxy.http.http1.codec import END, RequestDecoder, ResponseDecoder
from hotproxy.http.http1.heads import trailers_of
from hotproxy.http.http1.serialize import LAST_CHUNK, last_chunk
from test_codec import CHUNKINGS, feed


@pytest.mark.parametrize("how", CHUNKINGS)
def test_response_trailers_are_kept_on_the_head_in_order(how):
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3;ext=1\r\nabc\r\n0\r\n"
           b"Grpc-Status: 0 \r\ngrpc-message: fine\r\n\r\n")
    events = feed(ResponseDecoder(), raw, how)
    assert trailers_of(events[0]) == [(b"grpc-status", b"0"), (b"grpc-message", b"fine")]
    assert events[-1] is END


@pytest.mark.parametrize("how", CHUNKINGS)
def test_request_trailers_are_kept_and_the_next_request_has_none(how):
    raw = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
           b"x-checksum: 1\r\n\r\n"
           b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    heads = [event for event in feed(RequestDecoder(), raw, how) if hasattr(event, "method")]
    assert [trailers_of(head) for head in heads] == [[(b"x-checksum", b"1")], None]


def test_a_chunked_body_without_trailers_has_none():
    events = feed(ResponseDecoder(), b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     b"2\r\nok\r\n0\r\n\r\n", "whole")
    assert trailers_of(events[0]) is None


def test_the_last_chunk_carries_the_trailers():
    assert last_chunk([(b"grpc-status", b"0"), (b"x-t", b"v")]) == b"0\r\ngrpc-status: 0\r\nx-t: v\r\n\r\n"
    assert last_chunk([]) == LAST_CHUNK
