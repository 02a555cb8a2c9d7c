"""The client side's hot path for response heads (hot_frames.py ``_hot_response``): a HEADERS whose
block opens with an indexed final ``:status`` is read without the library's frame and event
objects, and must give what the library's path gives; everything else takes the library's path."""
import hpack
import pytest
from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame

from hotproxy.http.http2 import events as ev

from test_http2_client_codec import GET, parse_frames, raw_client


def summary(events):
    return [(type(e).__name__, *(getattr(e, name) for name in type(e).__slots__))
            for e in events]


def exchange(hot, frames_of, **options):
    """The events, stats and frames sent of a client given ``frames_of(encoder)`` as the answer
    to three GETs, with the hot path on or off."""
    client = raw_client(**options)
    client._hot_responses = hot
    for _ in range(3):
        client.send_request(GET, True)
    client.data_to_send()
    wire = b"".join(frame.serialize() for frame in frames_of(hpack.Encoder()))
    events = client.receive(wire)
    return summary(events), client.stats.rx_messaging_error, client.open_streams, [
        (type(f).__name__, f.stream_id) for f in parse_frames(bytes(client.data_to_send()))]


def ordinary(encoder):
    return [HeadersFrame(1, encoder.encode([(b":status", b"200"), (b"content-length", b"2")]),
                         flags=["END_HEADERS"]),
            DataFrame(1, b"ok", flags=["END_STREAM"]),
            HeadersFrame(3, encoder.encode([(b":status", b"404")]),
                         flags=["END_HEADERS", "END_STREAM"]),
            HeadersFrame(5, encoder.encode([(b":status", b"200"), (b"x-a", b"1")]),
                         flags=["END_HEADERS"]),
            HeadersFrame(5, encoder.encode([(b"grpc-status", b"0")]),
                         flags=["END_HEADERS", "END_STREAM"])]


def informational(encoder):
    return [HeadersFrame(1, encoder.encode([(b":status", b"103"), (b"link", b"</a>")]),
                         flags=["END_HEADERS"]),
            HeadersFrame(1, encoder.encode([(b":status", b"200")]),
                         flags=["END_HEADERS", "END_STREAM"])]


def head_twice(encoder):
    """A second head without END_STREAM is trailers without it: a malformed message."""
    return [HeadersFrame(1, encoder.encode([(b":status", b"200")]), flags=["END_HEADERS"]),
            HeadersFrame(1, encoder.encode([(b":status", b"200")]), flags=["END_HEADERS"])]


def head_after_reset(encoder):
    return [RstStreamFrame(1, error_code=0x8),
            HeadersFrame(1, encoder.encode([(b":status", b"200")]), flags=["END_HEADERS"]),
            HeadersFrame(3, encoder.encode([(b":status", b"200")]),
                         flags=["END_HEADERS", "END_STREAM"])]


def on_an_idle_stream(encoder):
    return [HeadersFrame(7, encoder.encode([(b":status", b"200")]),
                         flags=["END_HEADERS", "END_STREAM"])]


@pytest.mark.parametrize("frames_of", [ordinary, informational, head_twice, head_after_reset,
                                       on_an_idle_stream])
@pytest.mark.parametrize("override", [False, True])
def test_the_hot_path_answers_as_the_library(frames_of, override):
    options = {"override_stream_error_on_invalid_http_message": override}
    assert exchange(True, frames_of, **options) == exchange(False, frames_of, **options)


def test_an_ordinary_exchange_gives_heads_bodies_and_trailers():
    events, errors, open_streams, _ = exchange(True, ordinary)
    assert [e[0] for e in events] == ["ResponseHeaders", "ResponseData", "ResponseHeaders",
                                      "ResponseHeaders", "ResponseTrailers"]
    assert events[0][1:] == (1, 200, [(b"content-length", b"2")], False)
    assert events[2][1:] == (3, 404, [], True)
    assert errors == 0 and open_streams == 0


def test_the_library_stream_sees_the_head():
    client = raw_client()
    client.send_request(GET, True)
    client.receive(HeadersFrame(1, hpack.Encoder().encode([(b":status", b"200")]),
                                flags=["END_HEADERS"]).serialize())
    machine = client._conn.streams[1].state_machine
    assert machine.headers_received and not machine.trailers_received
    events = client.receive(DataFrame(1, b"x", flags=["END_STREAM"]).serialize())
    assert [type(e) for e in events] == [ev.ResponseData] and client.open_streams == 0
