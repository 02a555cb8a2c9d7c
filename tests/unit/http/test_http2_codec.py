"""ServerCodec (hotproxy/http/http2/codec.py), sans-IO: a raw client crafts frames with hyperframe
and hpack, the codec's output is parsed back into frames."""
import hpack
import pytest
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

from hotproxy.http.http2 import events as ev
from hotproxy.http.http2.codec import ServerCodec
from hotproxy.http.http2.limits import Http2Stats
from hotproxy.http.http2.options import Http2Options

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, COMPRESSION_ERROR = 0x1, 0x2, 0x7, 0x9
GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.com"),
       (b":path", b"/index.html"), (b"user-agent", b"test/1"), (b"accept", b"*/*")]


def parse_frames(data):
    frames = []
    while data:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9:9 + length]))
        frames.append(frame)
        data = data[9 + length:]
    return frames


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Peer:
    """A raw HTTP/2 client against a ServerCodec past the preface."""

    def __init__(self, clock=None, **options):
        self.stats = Http2Stats()
        self.clock = clock or Clock()
        self.server = ServerCodec(Http2Options(**options), self.stats, clock=self.clock)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.settings_frames = parse_frames(self.server.data_to_send())
        assert self.send(PREFACE + SettingsFrame(0).serialize()) == []
        self.server.data_to_send()

    def send(self, *frames):
        return self.server.receive(b"".join(
            f if isinstance(f, bytes) else f.serialize() for f in frames))

    def headers_frame(self, stream_id, headers, end_stream=True, end_headers=True):
        flags = ["END_STREAM"] * end_stream + ["END_HEADERS"] * end_headers
        return HeadersFrame(stream_id, self.encoder.encode(headers), flags=flags)

    def request(self, stream_id, headers=GET, end_stream=True):
        return self.send(self.headers_frame(stream_id, headers, end_stream))

    def output(self):
        return parse_frames(self.server.data_to_send())


def data_frame(stream_id, data, end_stream=False):
    frame = DataFrame(stream_id, data)
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame


def closed_without_goaway(peer, events):
    """Envoy's answer to floods and (by default) malformed requests: the connection closes,
    no GOAWAY."""
    assert [(type(e), e.error_code) for e in events[-1:]] == [(ev.ConnectionError, None)]
    assert not [f for f in peer.output() if isinstance(f, GoAwayFrame)]
    assert peer.request(101) == [] and peer.stats.goaway_sent == 0
    return True


def single(frames, kind):
    matching = [f for f in frames if isinstance(f, kind)]
    assert len(matching) == 1, frames
    return matching[0]


def test_preface_is_what_envoy_sends():
    """As the Envoy 1.40 binary answers a connection with no http2_protocol_options."""
    peer = Peer()
    settings = single(peer.settings_frames, SettingsFrame).settings
    assert list(settings.items()) == [(SettingsFrame.HEADER_TABLE_SIZE, 4096),
                                      (SettingsFrame.ENABLE_CONNECT_PROTOCOL, 0),
                                      (SettingsFrame.MAX_CONCURRENT_STREAMS, 1024),
                                      (SettingsFrame.INITIAL_WINDOW_SIZE, 16777216)]
    update = single(peer.settings_frames, WindowUpdateFrame)
    assert (update.stream_id, update.window_increment) == (0, 25100289)


def test_settings_follow_the_options():
    peer = Peer(max_concurrent_streams=50, hpack_table_size=8192, allow_connect=True,
                initial_stream_window_size=65535, initial_connection_window_size=65535)
    settings = single(peer.settings_frames, SettingsFrame).settings
    assert settings[SettingsFrame.MAX_CONCURRENT_STREAMS] == 50
    assert settings[SettingsFrame.INITIAL_WINDOW_SIZE] == 65535
    assert settings[SettingsFrame.HEADER_TABLE_SIZE] == 8192
    assert settings[SettingsFrame.ENABLE_CONNECT_PROTOCOL] == 1
    assert not [f for f in peer.settings_frames if isinstance(f, WindowUpdateFrame)]


def test_get_round_trip_with_pseudo_headers_first():
    peer = Peer()
    events = peer.request(1)
    assert len(events) == 1 and isinstance(events[0], ev.RequestHeaders)
    assert events[0].stream_id == 1 and events[0].end_stream
    assert [tuple(h) for h in events[0].headers] == GET
    assert peer.stats.streams_active == 1
    peer.server.send_headers(1, 200, [(b"content-type", b"text/plain")], False)
    assert peer.server.send_data(1, b"hello world!", True) == 12
    frames = peer.output()
    head = single(frames, HeadersFrame)
    assert peer.decoder.decode(head.data) == [(":status", "200"), ("content-type", "text/plain")]
    body = single(frames, DataFrame)
    assert body.data == b"hello world!" and "END_STREAM" in body.flags
    assert peer.server.open_streams == 0 and peer.stats.streams_active == 0


def test_request_body_and_trailers():
    peer = Peer()
    headers = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"a"),
               (b":path", b"/up"), (b"content-length", b"5")]
    trailers = peer.encoder.encode([(b"x-checksum", b"abc")])
    trailer_frame = HeadersFrame(1, trailers, flags=["END_STREAM", "END_HEADERS"])
    events = peer.send(peer.headers_frame(1, headers, end_stream=False), data_frame(1, b"hello"),
                       trailer_frame)
    assert [type(e) for e in events] == [ev.RequestHeaders, ev.RequestData, ev.RequestTrailers]
    assert (events[1].data, events[1].end_stream, events[1].flow_length) == (b"hello", False, 5)
    assert [tuple(h) for h in events[2].headers] == [(b"x-checksum", b"abc")]
    assert peer.stats.trailers == 1


def test_response_trailers_end_the_stream():
    peer = Peer()
    peer.request(1)
    peer.server.send_headers(1, 200, [(b"content-type", b"application/grpc")], False)
    peer.server.send_data(1, b"\0\0\0\0\0", False)
    peer.server.send_trailers(1, [(b"grpc-status", b"0")])
    frames = [f for f in peer.output() if isinstance(f, HeadersFrame)]
    assert "END_STREAM" in frames[1].flags
    peer.decoder.decode(frames[0].data)
    assert peer.decoder.decode(frames[1].data) == [("grpc-status", "0")]
    assert peer.server.open_streams == 0


def test_padding_counts_in_flow_length():
    peer = Peer()
    peer.request(1, end_stream=False)
    frame = DataFrame(1, b"abc", pad_length=10, flags=["PADDED"])
    [event] = peer.send(frame)
    assert event.data == b"abc" and event.flow_length == 14


def test_unacknowledged_data_stops_the_client_and_acknowledge_reopens():
    peer = Peer(initial_stream_window_size=100)
    peer.request(1, end_stream=False)
    events = peer.send(data_frame(1, b"x" * 100))
    assert events[0].flow_length == 100
    assert not [f for f in peer.output() if isinstance(f, WindowUpdateFrame)]
    # Past the window is a flow-control error: the client had to wait.
    [error] = peer.send(data_frame(1, b"y"))
    assert isinstance(error, ev.ConnectionError) and error.error_code == 0x3
    peer = Peer(initial_stream_window_size=100)
    peer.request(1, end_stream=False)
    peer.send(data_frame(1, b"x" * 100))
    peer.server.acknowledge(1, 100)
    updates = {f.stream_id: f.window_increment for f in peer.output()
               if isinstance(f, WindowUpdateFrame)}
    assert updates.get(1) == 100
    assert peer.send(data_frame(1, b"y" * 100))[0].data == b"y" * 100


def test_send_data_stops_at_the_peer_window_and_resumes_on_window_update():
    peer = Peer()
    peer.send(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 10}))
    peer.request(1)
    peer.server.send_headers(1, 200, [], False)
    assert peer.server.send_window(1) == 10
    assert peer.server.send_data(1, b"a" * 30, True) == 10
    assert peer.stats.pending_send_bytes == 20
    assert [len(f.data) for f in peer.output() if isinstance(f, DataFrame)] == [10]
    assert peer.server.send_data(1, b"a" * 20, True) == 0
    events = peer.send(WindowUpdateFrame(1, window_increment=25))
    assert [(type(e), e.stream_id) for e in events] == [(ev.WindowOpened, 1)]
    assert peer.server.send_data(1, b"a" * 20, True) == 20
    frames = [f for f in peer.output() if isinstance(f, DataFrame)]
    assert len(frames[0].data) == 20 and "END_STREAM" in frames[0].flags
    assert peer.stats.pending_send_bytes == 0


def test_send_data_splits_at_the_max_frame_size():
    peer = Peer()
    peer.request(1)
    peer.server.send_headers(1, 200, [], False)
    assert peer.server.send_data(1, b"z" * 40000, True) == 40000
    sizes = [len(f.data) for f in peer.output() if isinstance(f, DataFrame)]
    assert sizes == [16384, 16384, 7232]


def test_streams_over_max_concurrent_streams_are_refused():
    peer = Peer(max_concurrent_streams=1)
    assert isinstance(peer.request(1, end_stream=False)[0], ev.RequestHeaders)
    assert peer.request(3) == []
    reset = single(peer.output(), RstStreamFrame)
    assert (reset.stream_id, reset.error_code) == (3, REFUSED_STREAM)
    assert peer.stats.stream_refused_errors == 1
    assert peer.send(data_frame(1, b"", end_stream=True))[0].end_stream
    assert peer.request(5) == []
    peer.server.send_headers(1, 200, [], True)
    assert isinstance(peer.request(7)[0], ev.RequestHeaders)


BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a"), (b":path", b"/")]
MALFORMED = {
    "upper-case name": BASE + [(b"X-Upper", b"1")],
    "connection": BASE + [(b"connection", b"close")],
    "keep-alive": BASE + [(b"keep-alive", b"5")],
    "proxy-connection": BASE + [(b"proxy-connection", b"x")],
    "transfer-encoding": BASE + [(b"transfer-encoding", b"chunked")],
    "upgrade": BASE + [(b"upgrade", b"websocket")],
    "te gzip": BASE + [(b"te", b"gzip")],
    "missing :method": BASE[1:],
    "missing :scheme": [BASE[0]] + BASE[2:],
    "missing :path": BASE[:3],
    "empty :path": BASE[:3] + [(b":path", b"")],
    "relative :path": BASE[:3] + [(b":path", b"x")],
    "repeated :path": BASE + [(b":path", b"/again")],
    "pseudo after regular": BASE[:3] + [(b"accept", b"*/*"), (b":path", b"/")],
    "unknown pseudo": BASE + [(b":foo", b"1")],
    "response pseudo": BASE + [(b":status", b"200")],
    "CONNECT with :path": [(b":method", b"CONNECT"), (b":authority", b"a:443"), (b":path", b"/")],
    "CONNECT without :authority": [(b":method", b"CONNECT")],
    ":protocol without allow_connect": [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                                        (b":scheme", b"https"), (b":authority", b"a"),
                                        (b":path", b"/chat")],
    "newline in value": BASE + [(b"x-a", b"a\nb")],
    "bad name character": BASE + [(b"x a", b"1")],
    "repeated content-length": BASE + [(b"content-length", b"0"), (b"content-length", b"0")],
    "content-length not a number": BASE + [(b"content-length", b"1x")],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_closes_the_connection_by_default(case):
    peer = Peer()
    events = peer.request(1, MALFORMED[case])
    assert len(events) == 1 and closed_without_goaway(peer, events)
    assert peer.stats.rx_messaging_error == 1


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_is_a_stream_error_with_the_override(case):
    peer = Peer(override_stream_error_on_invalid_http_message=True)
    assert not [e for e in peer.request(1, MALFORMED[case]) if isinstance(e, ev.RequestHeaders)]
    reset = single(peer.output(), RstStreamFrame)
    assert (reset.stream_id, reset.error_code) == (1, PROTOCOL_ERROR)
    assert peer.stats.rx_messaging_error == 1 and peer.stats.tx_reset == 1
    assert peer.stats.streams_active == 0
    assert isinstance(peer.request(3)[0], ev.RequestHeaders)


@pytest.mark.parametrize("headers,options", [
    (BASE + [(b"te", b"trailers")], {}),
    ([(b":method", b"CONNECT"), (b":authority", b"a:443")], {}),
    ([(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
      (b":authority", b"a"), (b":path", b"/chat")], {"allow_connect": True}),
    ([(b":method", b"OPTIONS"), (b":scheme", b"https"), (b":authority", b"a"), (b":path", b"*")],
     {}),
])
def test_well_formed_requests_pass(headers, options):
    peer = Peer(**options)
    [event] = peer.request(1, headers)
    assert isinstance(event, ev.RequestHeaders)


def test_extended_connect_needs_the_connect_method():
    peer = Peer(allow_connect=True, override_stream_error_on_invalid_http_message=True)
    peer.request(1, BASE + [(b":protocol", b"websocket")])
    assert single(peer.output(), RstStreamFrame).error_code == PROTOCOL_ERROR


POST_4 = [(b":method", b"POST")] + BASE[1:] + [(b"content-length", b"4")]


@pytest.mark.parametrize("override", [False, True])
@pytest.mark.parametrize("body", [b"12345", b"123"])
def test_data_longer_or_shorter_than_content_length_resets_the_stream(body, override):
    peer = Peer(override_stream_error_on_invalid_http_message=override)
    assert isinstance(peer.request(1, POST_4, end_stream=False)[0], ev.RequestHeaders)
    events = peer.send(data_frame(1, body[:2]), data_frame(1, body[2:], end_stream=True))
    assert [type(e) for e in events] == [ev.RequestData, ev.StreamError]
    assert single(peer.output(), RstStreamFrame).error_code == PROTOCOL_ERROR
    assert (peer.stats.tx_reset, peer.stats.rx_messaging_error) == (1, 0)
    assert peer.server.open_streams == 0


def test_content_length_with_end_stream_on_the_headers_is_malformed():
    peer = Peer()
    assert closed_without_goaway(peer, peer.request(1, POST_4, end_stream=True))
    peer = Peer(override_stream_error_on_invalid_http_message=True)
    assert peer.request(1, POST_4, end_stream=True) == []
    assert single(peer.output(), RstStreamFrame).error_code == PROTOCOL_ERROR
    assert peer.stats.rx_messaging_error == 1


def test_trailers_short_of_content_length_are_malformed():
    peer = Peer()
    peer.send(peer.headers_frame(1, POST_4, end_stream=False), data_frame(1, b"12"))
    events = peer.send(peer.headers_frame(1, [(b"x-t", b"1")]))
    assert closed_without_goaway(peer, events)
    assert peer.stats.rx_messaging_error == 1


def test_events_before_a_malformed_stream_are_kept():
    peer = Peer(override_stream_error_on_invalid_http_message=True)
    events = peer.send(peer.headers_frame(1, GET), peer.headers_frame(3, MALFORMED["upgrade"]),
                       peer.headers_frame(5, GET))
    assert [(type(e), e.stream_id) for e in events] == [(ev.RequestHeaders, 1),
                                                        (ev.RequestHeaders, 5)]


def test_trailers_without_end_stream_are_malformed():
    peer = Peer(override_stream_error_on_invalid_http_message=True)
    peer.request(1, end_stream=False)
    events = peer.send(peer.headers_frame(1, [(b"x-t", b"1")], end_stream=False))
    assert [type(e) for e in events] == [ev.StreamError]
    assert single(peer.output(), RstStreamFrame).error_code == PROTOCOL_ERROR


def test_too_many_headers_reset_the_stream():
    peer = Peer()
    headers = BASE + [(b"x-h%d" % i, b"v") for i in range(97)]
    assert len(headers) == 101
    assert peer.request(1, headers) == []
    reset = single(peer.output(), RstStreamFrame)
    assert (reset.stream_id, reset.error_code) == (1, INTERNAL_ERROR)
    assert peer.stats.header_overflow == 1
    assert isinstance(peer.request(3, BASE + [(b"x-h%d" % i, b"v") for i in range(96)])[0],
                      ev.RequestHeaders)


def test_headers_over_max_headers_kb_reset_the_stream():
    peer = Peer(max_headers_kb=8)
    block = peer.encoder.encode(BASE + [(b"x-big", b"a" * 9000)], huffman=False)
    first = HeadersFrame(1, block[:8000])
    first.flags.add("END_STREAM")
    second = ContinuationFrame(1, block[8000:])
    second.flags.add("END_HEADERS")
    assert peer.send(first, second) == []
    assert single(peer.output(), RstStreamFrame).error_code == INTERNAL_ERROR
    assert (peer.stats.header_list_size_too_large, peer.stats.header_overflow) == (1, 0)
    assert isinstance(peer.request(3)[0], ev.RequestHeaders)


def header_block_frames(block, stream_id=1):
    parts = [block[i:i + 16000] for i in range(0, len(block), 16000)]
    return ([HeadersFrame(stream_id, parts[0], flags=["END_STREAM"])]
            + [ContinuationFrame(stream_id, p) for p in parts[1:-1]]
            + [ContinuationFrame(stream_id, parts[-1], flags=["END_HEADERS"])])


def test_one_header_field_over_64_kib_is_a_compression_error():
    peer = Peer()
    block = peer.encoder.encode(BASE + [(b"x-big", b"a" * 63 * 1024)], huffman=False)
    assert peer.send(*header_block_frames(block)) == []
    assert single(peer.output(), RstStreamFrame).error_code == INTERNAL_ERROR
    block = peer.encoder.encode(BASE + [(b"x-big", b"a" * 65 * 1024)], huffman=False)
    events = peer.send(*header_block_frames(block, 3))
    assert [(type(e), e.error_code) for e in events] == [(ev.ConnectionError, COMPRESSION_ERROR)]
    assert single(peer.output(), GoAwayFrame).error_code == COMPRESSION_ERROR


def test_continuation_flood_is_a_compression_error():
    peer = Peer(max_headers_kb=8)
    first = HeadersFrame(1, peer.encoder.encode(BASE))
    frames = [first] + [ContinuationFrame(1, b"\x00" * 4000) for _ in range(20)]
    events = peer.send(*frames)
    assert [(type(e), e.error_code) for e in events] == [(ev.ConnectionError, COMPRESSION_ERROR)]
    assert peer.stats.header_list_size_too_large == 1


def test_streams_over_the_acknowledged_limit_close_the_connection():
    peer = Peer(max_concurrent_streams=1)
    assert [type(e) for e in peer.send(SettingsFrame(0, flags=["ACK"]))] == [ev.SettingsAcked]
    assert isinstance(peer.request(1, end_stream=False)[0], ev.RequestHeaders)
    assert closed_without_goaway(peer, peer.request(3))


def test_a_truncated_hpack_integer_is_a_compression_error_not_a_panic():
    peer = Peer()
    events = peer.send(HeadersFrame(1, b"\xff\xff\xff\xff", flags=["END_HEADERS"]))
    assert [(type(e), e.error_code) for e in events] == [(ev.ConnectionError, COMPRESSION_ERROR)]


def test_priority_frames_are_ignored():
    peer = Peer()
    on_stream_0 = b"\x00\x00\x05\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0f"
    assert peer.send(on_stream_0, PriorityFrame(1, depends_on=1)) == []
    assert isinstance(peer.request(1)[0], ev.RequestHeaders)


def test_headers_on_a_half_closed_stream_close_without_goaway():
    peer = Peer()
    peer.request(1)
    assert closed_without_goaway(peer, peer.request(1))


def test_a_preface_not_followed_by_settings_is_a_protocol_error():
    server = ServerCodec(Http2Options(), Http2Stats())
    events = server.receive(PREFACE + PingFrame(0, b"12345678").serialize())
    assert [(type(e), e.error_code) for e in events] == [(ev.ConnectionError, PROTOCOL_ERROR)]


def test_empty_continuation_frames_are_an_empty_frame_flood():
    peer = Peer()
    frames = [HeadersFrame(1, peer.encoder.encode(BASE))] + [ContinuationFrame(1, b"")] * 2
    assert closed_without_goaway(peer, peer.send(*frames))
    assert peer.stats.inbound_empty_frames_flood == 1


def test_hpack_bomb_is_a_compression_error():
    peer = Peer(max_headers_kb=8)
    peer.request(1, BASE + [(b"x-big", b"a" * 4000)])
    bomb = peer.encoder.encode(BASE + [(b"x-big", b"a" * 4000)] * 100)
    assert len(bomb) < 1000
    frame = HeadersFrame(3, bomb, flags=["END_HEADERS", "END_STREAM"])
    events = peer.send(frame)
    assert [(type(e), e.error_code) for e in events] == [(ev.ConnectionError, COMPRESSION_ERROR)]
    assert single(peer.output(), GoAwayFrame).error_code == COMPRESSION_ERROR


def test_empty_data_frames_flood():
    peer = Peer()
    peer.request(1, end_stream=False)
    assert peer.send(data_frame(1, b"")) != []
    assert closed_without_goaway(peer, peer.send(data_frame(1, b"")))
    assert peer.stats.inbound_empty_frames_flood == 1


def test_empty_data_frames_with_payload_between_are_fine():
    peer = Peer()
    peer.request(1, end_stream=False)
    for _ in range(5):
        peer.send(data_frame(1, b""), data_frame(1, b"x"))
    assert peer.stats.inbound_empty_frames_flood == 0


def test_ping_flood_when_the_peer_does_not_read():
    peer = Peer()
    assert not peer.send(*[PingFrame(0, b"12345678")] * 1000)
    peer.send(PingFrame(0, b"12345678"))
    assert peer.stats.outbound_control_flood == 1
    assert peer.server.receive(b"") == []


def test_pings_taken_by_the_writer_are_no_flood():
    peer = Peer()
    for _ in range(3):
        assert not peer.send(*[PingFrame(0, b"12345678")] * 900)
        assert len(peer.output()) == 900
    assert peer.stats.outbound_control_flood == 0 and peer.stats.outbound_control_frames_active == 0


def test_settings_flood_when_the_peer_does_not_read():
    peer = Peer(max_outbound_control_frames=10)
    events = peer.send(*[SettingsFrame(0)] * 11)
    assert isinstance(events[-1], ev.ConnectionError)
    assert peer.stats.outbound_control_flood == 1


def test_outbound_flood_of_response_frames():
    peer = Peer(max_outbound_frames=20)
    for stream_id in range(1, 42, 2):
        peer.request(stream_id)
        peer.server.send_headers(stream_id, 200, [], True)
    assert peer.stats.outbound_frames_active == 21
    events = peer.send(PingFrame(0, b"12345678"))
    assert [(type(e), e.error_code) for e in events] == [(ev.ConnectionError, None)]
    assert peer.stats.outbound_flood == 1


def test_priority_flood():
    peer = Peer(max_inbound_priority_frames_per_stream=3)
    assert peer.send(*[PriorityFrame(1)] * 3) == []
    assert closed_without_goaway(peer, peer.send(PriorityFrame(3)))
    assert peer.stats.inbound_priority_frames_flood == 1


def test_window_update_flood():
    peer = Peer()
    assert closed_without_goaway(peer, peer.send(*[WindowUpdateFrame(0, window_increment=1)] * 6))
    assert peer.stats.inbound_window_update_frames_flood == 1
    peer = Peer()
    assert not [e for e in peer.send(*[WindowUpdateFrame(0, window_increment=1)] * 5)
                if isinstance(e, ev.ConnectionError)]


def test_rapid_reset_aborts_the_connection():
    peer = Peer(premature_reset_total_stream_count=10)
    events = []
    for stream_id in range(1, 20, 2):
        events += peer.request(stream_id, end_stream=False)
        events += peer.send(RstStreamFrame(stream_id, error_code=0x8))
        if isinstance(events[-1], ev.PrematureResetsExceeded):
            break
    assert [type(e) for e in events[-3:]] == [ev.RequestHeaders, ev.StreamReset,
                                              ev.PrematureResetsExceeded]
    assert stream_id == 9 and peer.stats.rx_reset == 5
    assert peer.request(21) == []


def test_resets_after_a_response_or_a_long_life_are_not_premature():
    clock = Clock()
    peer = Peer(clock=clock, premature_reset_total_stream_count=10)
    for stream_id in range(1, 40, 4):
        peer.request(stream_id, end_stream=False)
        peer.server.send_headers(stream_id, 200, [], False)
        assert not peer.send(RstStreamFrame(stream_id, error_code=0x8))[1:]
        peer.request(stream_id + 2, end_stream=False)
        clock.now += 2.5
        assert not peer.send(RstStreamFrame(stream_id + 2, error_code=0x8))[1:]


def test_two_phase_drain():
    peer = Peer()
    peer.request(1, end_stream=False)
    peer.server.start_drain()
    goaway = single(peer.output(), GoAwayFrame)
    assert (goaway.last_stream_id, goaway.error_code) == (2 ** 31 - 1, 0)
    assert peer.server.draining
    assert isinstance(peer.request(3)[0], ev.RequestHeaders)
    peer.server.finish_drain()
    peer.server.finish_drain()
    assert single(peer.output(), GoAwayFrame).last_stream_id == 3
    assert peer.request(5) == []
    assert single(peer.output(), RstStreamFrame).error_code == REFUSED_STREAM
    assert peer.server.open_streams == 2
    peer.server.send_headers(1, 200, [], True)
    peer.server.send_headers(3, 200, [], True)
    assert peer.send(data_frame(1, b"", end_stream=True))[0].end_stream
    assert peer.server.open_streams == 0
    assert peer.stats.goaway_sent == 1


def test_peer_reset_and_goaway_are_reported():
    peer = Peer()
    peer.request(1, end_stream=False)
    events = peer.send(RstStreamFrame(1, error_code=0x8))
    assert [(type(e), e.stream_id, e.error_code) for e in events] == [(ev.StreamReset, 1, 0x8)]
    assert peer.stats.rx_reset == 1 and peer.server.open_streams == 0
    peer.request(3)
    [event] = peer.send(GoAwayFrame(0, last_stream_id=0, error_code=0))
    assert isinstance(event, ev.GoAwayReceived)
    peer.server.send_headers(3, 200, [], True)
    assert single(peer.output(), HeadersFrame).stream_id == 3


def test_codec_reset_is_counted():
    peer = Peer()
    peer.request(1, end_stream=False)
    peer.server.reset(1)
    reset = single(peer.output(), RstStreamFrame)
    assert (reset.stream_id, reset.error_code) == (1, INTERNAL_ERROR)
    assert peer.stats.tx_reset == 1 and peer.server.open_streams == 0


def test_keepalive_ping_is_acked_as_an_event():
    peer = Peer()
    peer.server.ping(b"keepaliv")
    ping = single(peer.output(), PingFrame)
    assert ping.opaque_data == b"keepaliv" and "ACK" not in ping.flags
    ack = PingFrame(0, b"keepaliv", flags=["ACK"])
    assert [(type(e), e.opaque_data) for e in peer.send(ack)] == [(ev.PingAck, b"keepaliv")]


def test_window_updates_are_batched_until_half_the_window_is_consumed():
    peer = Peer(initial_stream_window_size=1000, initial_connection_window_size=65535)
    peer.request(1, end_stream=False)
    peer.send(data_frame(1, b"x" * 100), data_frame(1, b"x" * 400))
    peer.server.acknowledge(1, 100)
    assert not [f for f in peer.output() if isinstance(f, WindowUpdateFrame)]
    peer.server.acknowledge(1, 400)
    updates = {f.stream_id: f.window_increment for f in peer.output()
               if isinstance(f, WindowUpdateFrame)}
    assert updates == {1: 500}


def test_connection_lost_ends_the_open_streams_in_the_gauges():
    peer = Peer()
    peer.request(1, end_stream=False)
    peer.request(3, end_stream=False)
    assert peer.stats.streams_active == 2
    peer.server.connection_lost()
    assert peer.stats.streams_active == 0 and peer.server.open_streams == 0
    assert peer.request(5) == []


def test_a_close_by_the_codec_ends_the_open_streams_in_the_gauges():
    peer = Peer()
    peer.request(1, end_stream=False)
    assert closed_without_goaway(peer, peer.request(3, [(b":method", b"GET")]))
    assert peer.stats.streams_active == 0
