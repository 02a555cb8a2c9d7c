"""ClientCodec (hotproxy/http/http2/client_codec.py) against ServerCodec, sans-IO, and against
frames crafted with hyperframe/hpack where a server would have to misbehave."""
import hpack
import pytest
from hyperframe.frame import (Frame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

from hotproxy.http.http2 import events as ev
from hotproxy.http.http2.client_codec import ClientCodec, NoStreamAvailable
from hotproxy.http.http2.codec import ServerCodec
from hotproxy.http.http2.limits import Http2Stats
from hotproxy.http.http2.options import Http2Options

REQUEST = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"upstream"),
           (b":path", b"/rpc"), (b"content-type", b"application/grpc"), (b"te", b"trailers")]
GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"upstream"), (b":path", b"/")]


def parse_frames(data):
    frames = []
    while data:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9:9 + length]))
        frames.append(frame)
        data = data[9 + length:]
    return frames


class Pair:
    """A ClientCodec wired to a ServerCodec; ``pump`` moves bytes both ways until quiet."""

    def __init__(self, client_options=None, server_options=None):
        self.client_stats, self.server_stats = Http2Stats(), Http2Stats()
        self.client = ClientCodec(Http2Options(**(client_options or {})), self.client_stats)
        self.server = ServerCodec(Http2Options(**(server_options or {})), self.server_stats)
        self.client.initiate()
        self.pump()

    def pump(self):
        server_events, client_events = [], []
        while True:
            upstream = self.client.data_to_send()
            if upstream:
                server_events += self.server.receive(upstream)
            downstream = self.server.data_to_send()
            if downstream:
                client_events += self.client.receive(downstream)
            if not upstream and not downstream:
                return server_events, client_events


def kinds(events):
    return [type(e) for e in events if not isinstance(e, (ev.WindowOpened, ev.SettingsAcked))]


def test_initiate_sends_the_preface_and_settings():
    client = ClientCodec(Http2Options(initial_stream_window_size=1000), Http2Stats())
    client.initiate()
    data = client.data_to_send()
    assert data.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    frames = parse_frames(data[24:])
    assert frames[0].settings[SettingsFrame.INITIAL_WINDOW_SIZE] == 1000
    assert frames[0].settings[SettingsFrame.ENABLE_PUSH] == 0


def test_request_and_response_with_trailers_both_ways():
    pair = Pair()
    stream_id = pair.client.send_request(REQUEST, end_stream=False)
    assert stream_id == 1
    assert pair.client.send_data(stream_id, b"\0\0\0\0\x02hi", False) == 7
    pair.client.send_trailers(stream_id, [(b"x-request-trailer", b"1")])
    server_events, _ = pair.pump()
    assert kinds(server_events) == [ev.RequestHeaders, ev.RequestData, ev.RequestTrailers]
    assert [tuple(h) for h in server_events[0].headers] == REQUEST
    pair.server.send_headers(stream_id, 200, [(b"content-type", b"application/grpc")], False)
    pair.server.send_data(stream_id, b"\0\0\0\0\x02ok", False)
    pair.server.send_trailers(stream_id, [(b"grpc-status", b"0"), (b"grpc-message", b"")])
    _, client_events = pair.pump()
    assert kinds(client_events) == [ev.ResponseHeaders, ev.ResponseData, ev.ResponseTrailers]
    head, body, trailers = [e for e in client_events if not isinstance(e, ev.WindowOpened)]
    assert (head.stream_id, head.status, head.end_stream) == (1, 200, False)
    assert [tuple(h) for h in head.headers] == [(b"content-type", b"application/grpc")]
    assert (body.data, body.flow_length) == (b"\0\0\0\0\x02ok", 7)
    assert [tuple(h) for h in trailers.headers] == [(b"grpc-status", b"0"), (b"grpc-message", b"")]
    assert pair.client.open_streams == 0 and pair.server.open_streams == 0
    assert pair.client_stats.streams_active == 0


def test_informational_response_is_its_own_event():
    pair = Pair()
    stream_id = pair.client.send_request(GET, end_stream=True)
    pair.pump()
    pair.server.send_headers(stream_id, 100, [], False)
    pair.server.send_headers(stream_id, 204, [], True)
    _, client_events = pair.pump()
    assert kinds(client_events) == [ev.InformationalHeaders, ev.ResponseHeaders]
    assert client_events[0].status == 100 and client_events[1].end_stream


def test_available_streams_follow_the_server_limit():
    pair = Pair(server_options={"max_concurrent_streams": 2})
    assert pair.client.available_streams == 2
    pair.client.send_request(GET, True)
    pair.client.send_request(GET, True)
    assert pair.client.available_streams == 0
    with pytest.raises(NoStreamAvailable):
        pair.client.send_request(GET, True)
    pair.pump()
    pair.server.send_headers(1, 200, [], True)
    pair.pump()
    assert pair.client.available_streams == 1


def test_response_flow_control_waits_for_acknowledge():
    pair = Pair(client_options={"initial_stream_window_size": 1000,
                                "initial_connection_window_size": 65535})
    stream_id = pair.client.send_request(GET, True)
    pair.pump()
    pair.server.send_headers(stream_id, 200, [], False)
    assert pair.server.send_data(stream_id, b"a" * 3000, True) == 1000
    _, client_events = pair.pump()
    [data] = [e for e in client_events if isinstance(e, ev.ResponseData)]
    assert pair.server.send_window(stream_id) == 0
    assert pair.server.send_data(stream_id, b"a" * 2000, True) == 0
    pair.client.acknowledge(stream_id, data.flow_length)
    server_events, _ = pair.pump()
    assert [e.stream_id for e in server_events if isinstance(e, ev.WindowOpened)] == [stream_id]
    assert pair.server.send_data(stream_id, b"a" * 2000, True) == 1000


def test_request_body_waits_for_the_server_to_acknowledge():
    pair = Pair(server_options={"initial_stream_window_size": 100})
    stream_id = pair.client.send_request(REQUEST, False)
    assert pair.client.send_data(stream_id, b"b" * 250, False) == 100
    server_events, _ = pair.pump()
    [data] = [e for e in server_events if isinstance(e, ev.RequestData)]
    assert pair.client.send_data(stream_id, b"b" * 150, False) == 0
    pair.server.acknowledge(stream_id, data.flow_length)
    _, client_events = pair.pump()
    assert ev.WindowOpened in [type(e) for e in client_events]
    assert pair.client.send_data(stream_id, b"b" * 150, True) == 100


def test_goaway_refuses_the_streams_it_did_not_take():
    pair = Pair()
    first = pair.client.send_request(GET, True)
    pair.pump()
    second = pair.client.send_request(GET, True)
    goaway = GoAwayFrame(0, last_stream_id=first, error_code=0)
    events = pair.client.receive(goaway.serialize())
    assert [(type(e), getattr(e, "stream_id", None)) for e in events] == [
        (ev.GoAwayReceived, None), (ev.StreamReset, second)]
    assert events[1].error_code == 0x7
    assert pair.client.available_streams == 0
    with pytest.raises(NoStreamAvailable):
        pair.client.send_request(GET, True)
    pair.server.send_headers(first, 200, [], True)
    _, client_events = pair.pump()
    assert kinds(client_events) == [ev.ResponseHeaders]


def test_server_drain_reaches_the_client_in_two_phases():
    pair = Pair()
    stream_id = pair.client.send_request(GET, True)
    pair.pump()
    pair.server.start_drain()
    _, client_events = pair.pump()
    pair.server.finish_drain()
    _, more_events = pair.pump()
    goaways = [e.last_stream_id for e in client_events + more_events
               if isinstance(e, ev.GoAwayReceived)]
    assert goaways == [2 ** 31 - 1, stream_id]
    pair.server.send_headers(stream_id, 200, [], True)
    _, client_events = pair.pump()
    assert kinds(client_events) == [ev.ResponseHeaders]


def test_server_reset_is_reported():
    pair = Pair()
    stream_id = pair.client.send_request(REQUEST, False)
    pair.pump()
    pair.server.reset(stream_id, 0x8)
    _, client_events = pair.pump()
    assert [(type(e), e.error_code) for e in client_events] == [(ev.StreamReset, 0x8)]
    assert pair.client_stats.rx_reset == 1 and pair.client.open_streams == 0


def raw_response(client, stream_id, headers, end_stream=True):
    flags = ["END_HEADERS"] + ["END_STREAM"] * end_stream
    return client.receive(HeadersFrame(stream_id, hpack.Encoder().encode(headers),
                                       flags=flags).serialize())


def raw_client(**options):
    client = ClientCodec(Http2Options(**options), Http2Stats())
    client.initiate()
    client.receive(SettingsFrame(0).serialize())
    client.data_to_send()
    return client


@pytest.mark.parametrize("headers", [
    [(b"content-type", b"text/plain")],
    [(b":status", b"20")],
    [(b":status", b"200"), (b":path", b"/")],
])
def test_malformed_response_is_a_messaging_error(headers):
    client = raw_client(override_stream_error_on_invalid_http_message=True)
    stream_id = client.send_request(GET, True)
    client.data_to_send()
    events = raw_response(client, stream_id, headers, end_stream=False)
    assert [type(e) for e in events] == [ev.StreamError]
    assert client.open_streams == 0
    reset = [f for f in parse_frames(client.data_to_send()) if isinstance(f, RstStreamFrame)]
    assert reset[0].error_code == 0x1
    assert client.stats.rx_messaging_error == 1
    client = raw_client()
    client.send_request(GET, True)
    assert [type(e) for e in raw_response(client, 1, headers)] == [ev.ConnectionError]


def test_response_headers_over_the_limit_reset_the_stream():
    client = raw_client(max_headers_count=5)
    stream_id = client.send_request(GET, True)
    client.data_to_send()
    headers = [(b":status", b"200")] + [(b"x-%d" % i, b"v") for i in range(5)]
    events = raw_response(client, stream_id, headers)
    assert [type(e) for e in events] == [ev.StreamError]
    assert client.stats.header_overflow == 1 and client.open_streams == 0


def test_window_update_from_the_server_opens_the_connection_window():
    client = raw_client()
    client.send_request(REQUEST, False)
    events = client.receive(WindowUpdateFrame(0, window_increment=1000).serialize())
    assert [(type(e), e.stream_id) for e in events] == [(ev.WindowOpened, 0)]
    assert client.send_window(0) == 65535 + 1000
