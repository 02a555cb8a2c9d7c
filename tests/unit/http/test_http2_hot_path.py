"""The codec's hot path (hot_frames.py, sending.py): requests read and responses framed without the
library's frame objects must give what the library's path gives, however the bytes arrive and
whatever frames sit between them."""
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, HeadersFrame, PingFrame,
                              WindowUpdateFrame)

from hotproxy.http.http2 import events as ev

from test_http2_codec import GET, Peer, data_frame, parse_frames

POST = [(b":method", b"POST")] + GET[1:] + [(b"content-length", b"5")]


def summary(events):
    """What the owner sees of the events, comparable across runs."""
    out = []
    for event in events:
        if isinstance(event, ev.RequestHeaders):
            out.append(("headers", event.stream_id, list(map(tuple, event.headers)),
                        event.end_stream))
        elif isinstance(event, ev.RequestData):
            out.append(("data", event.stream_id, event.data, event.end_stream, event.flow_length))
        else:
            out.append((type(event).__name__,))
    return out


def conversation(peer):
    """Two POSTs with bodies, a PING and a header block in CONTINUATIONs between them."""
    encoder = peer.encoder
    ping = PingFrame(0, b"12345678")
    first = encoder.encode(POST)    # in the order of the wire: the encoder's table moves on
    split = encoder.encode(GET)
    return b"".join(frame.serialize() for frame in [
        HeadersFrame(1, first, flags=["END_HEADERS"]),
        ping,
        data_frame(1, b"he"), data_frame(1, b"llo", end_stream=True),
        HeadersFrame(3, split[:5], flags=["END_STREAM"]),
        ContinuationFrame(3, split[5:], flags=["END_HEADERS"]),
        HeadersFrame(5, encoder.encode(POST), flags=["END_HEADERS"]),
        data_frame(5, b"world", end_stream=True),
        WindowUpdateFrame(0, window_increment=1000)])


def test_the_same_events_whatever_the_bytes_are_split():
    whole_peer = Peer()
    whole = summary(whole_peer.server.receive(conversation(whole_peer)))
    assert [item[0] for item in whole] == ["headers", "data", "data", "headers", "headers", "data",
                                          "WindowOpened"]
    assert whole[3][1:] == (3, GET, True)
    wire = conversation(Peer())
    for step in (1, 7, 9, 10, 31):
        peer = Peer()
        wire = conversation(peer)
        events = []
        for at in range(0, len(wire), step):
            events += peer.server.receive(wire[at:at + step])
        assert summary(events) == whole, step
        assert peer.stats.rx_messaging_error == 0
        pongs = [f for f in peer.output() if isinstance(f, PingFrame)]
        assert [p.opaque_data for p in pongs] == [b"12345678"]


def test_a_body_beyond_the_window_is_a_connection_error_as_before():
    """DATA past the stream window: the hot path leaves it to the library, which answers with
    a GOAWAY FLOW_CONTROL_ERROR."""
    peer = Peer(initial_stream_window_size=65535, initial_connection_window_size=1 << 24)
    upload = [(b":method", b"POST")] + GET[1:]
    assert summary(peer.send(HeadersFrame(1, peer.encoder.encode(upload), flags=["END_HEADERS"])))
    events = peer.send(*[data_frame(1, b"x" * 16384) for _ in range(4)], data_frame(1, b"x" * 16))
    assert isinstance(events[-1], ev.ConnectionError) and events[-1].error_code == 0x3


def test_closed_streams_do_not_pile_up():
    """A long connection: what the codec keeps per finished stream goes."""
    peer = Peer()
    for stream_id in range(1, 4001, 2):
        events = peer.request(stream_id)
        assert isinstance(events[0], ev.RequestHeaders)
        peer.server.send_headers(stream_id, 200, [(b"content-length", b"2")], False)
        peer.server.send_data(stream_id, b"ok", True)
        peer.server.data_to_send()
    assert peer.server.open_streams == 0
    assert len(peer.server._conn.streams) < 200


def test_responses_framed_together_decode_at_the_client():
    """Several responses in one write, one with a header block larger than the client's frame
    size (CONTINUATIONs), one with a body split by the frame size."""
    peer = Peer()
    big = [(b"x-big-%d" % i, b"v" * 1000) for i in range(20)]
    for stream_id in (1, 3, 5):
        peer.request(stream_id)
    server = peer.server
    server.send_headers(1, 200, [(b"content-length", b"2")], False)
    server.send_data(1, b"ok", True)
    server.send_headers(3, 200, big, True)
    server.send_headers(5, 404, [], False)
    server.send_data(5, b"y" * 40000, True)
    frames = parse_frames(bytes(server.data_to_send()))
    decoder = hpack.Decoder()
    blocks, bodies, block, ended = {}, {}, b"", set()
    for frame in frames:
        if isinstance(frame, (HeadersFrame, ContinuationFrame)):
            block += frame.data
            if "END_HEADERS" in frame.flags:
                blocks[frame.stream_id] = decoder.decode(block, raw=True)
                block = b""
        elif isinstance(frame, DataFrame):
            assert len(frame.data) <= 16384
            bodies[frame.stream_id] = bodies.get(frame.stream_id, b"") + frame.data
        if "END_STREAM" in frame.flags:
            ended.add(frame.stream_id)
    assert blocks[1] == [(b":status", b"200"), (b"content-length", b"2")]
    assert blocks[3] == [(b":status", b"200")] + big
    assert blocks[5] == [(b":status", b"404")]
    assert bodies == {1: b"ok", 5: b"y" * 40000}
    assert ended == {1, 3, 5} and server.open_streams == 0
    assert any(isinstance(f, ContinuationFrame) for f in frames)
