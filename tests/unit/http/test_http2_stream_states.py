"""The stream states the codec moves itself (hotproxy/http/http2/stream_states.py): the same states
and flags as jh2's state machine for every move of the table, the library's error for every move
outside it, and the answers the codec gives on the wire for the illegal frames."""
import pytest
from hyperframe.frame import GoAwayFrame, RstStreamFrame
from jh2.exceptions import ProtocolError, StreamClosedError
from jh2.stream import H2StreamStateMachine, StreamInputs, StreamState

from hotproxy.http.http2 import events as ev
from hotproxy.http.http2 import stream_states as states

from test_http2_client_codec import GET as UPSTREAM_GET, raw_client, raw_response
from test_http2_codec import GET, Peer, data_frame

I = StreamInputs


def library(*inputs):
    machine = H2StreamStateMachine(1)
    for library_input in inputs:
        machine.process_input(library_input)
    return machine


def ours(*moves):
    machine = H2StreamStateMachine(1)
    for move, *args in moves:
        move(machine, *args)
    return machine


@pytest.mark.parametrize("expected, moves", [
    # server: a GET, its response head and body
    ((I.RECV_HEADERS, I.RECV_END_STREAM, I.SEND_HEADERS, I.SEND_DATA, I.SEND_END_STREAM),
     [(states.received_request, True), (states.sent_head_or_trailers, False),
      (states.sent_data, True)]),
    # server: a POST's body, a 100 Continue, the response with END_STREAM before the body ends
    ((I.RECV_HEADERS, I.SEND_INFORMATIONAL_HEADERS, I.RECV_DATA, I.SEND_HEADERS,
      I.SEND_END_STREAM, I.RECV_DATA, I.RECV_END_STREAM),
     [(states.received_request, False), (states.sent_informational,),
      (states.received_data, False), (states.sent_head_or_trailers, True),
      (states.received_data, True)]),
    # server: trailers end the response
    ((I.RECV_HEADERS, I.RECV_END_STREAM, I.SEND_HEADERS, I.SEND_DATA, I.SEND_HEADERS,
      I.SEND_END_STREAM),
     [(states.received_request, True), (states.sent_head_or_trailers, False),
      (states.sent_data, False), (states.sent_head_or_trailers, True)]),
    # client: a POST with trailers, the response
    ((I.SEND_HEADERS, I.SEND_DATA, I.SEND_HEADERS, I.SEND_END_STREAM, I.RECV_HEADERS, I.RECV_DATA,
      I.RECV_END_STREAM),
     [(states.sent_request, False), (states.sent_data, False),
      (states.sent_head_or_trailers, True), (states.received_response, False),
      (states.received_data, True)]),
    # client: a GET answered by HEADERS with END_STREAM
    ((I.SEND_HEADERS, I.SEND_END_STREAM, I.RECV_HEADERS, I.RECV_END_STREAM),
     [(states.sent_request, True), (states.received_response, True)]),
])
def test_the_same_states_and_flags_as_the_library(expected, moves):
    assert vars(ours(*moves)) == vars(library(*expected))


@pytest.mark.parametrize("moves, error", [
    # DATA, HEADERS or END_STREAM received once the peer ended its side: STREAM_CLOSED
    ([(states.received_request, True), (states.received_data, False)], StreamClosedError),
    ([(states.received_request, True), (states.received_request, True)], ProtocolError),
    # DATA on a stream the peer never opened
    ([(states.received_data, False)], StreamClosedError),
    # sending after END_STREAM was sent
    ([(states.received_request, True), (states.sent_head_or_trailers, True),
      (states.sent_data, False)], StreamClosedError),
    ([(states.sent_request, True), (states.sent_data, True)], ProtocolError),
    # a 1xx after the final response; trailers twice
    ([(states.received_request, False), (states.sent_head_or_trailers, False),
      (states.sent_informational,)], ProtocolError),
    ([(states.received_request, False), (states.sent_head_or_trailers, False),
      (states.sent_head_or_trailers, False), (states.sent_head_or_trailers, False)],
     ProtocolError),
    # a client's DATA before the response head; a response head once the server ended
    ([(states.sent_request, True), (states.received_data, False)], ProtocolError),
    ([(states.sent_request, True), (states.received_response, True),
      (states.received_response, True)], StreamClosedError),
    # a 1xx from the side that sent the request
    ([(states.sent_request, False), (states.sent_informational,)], ProtocolError),
])
def test_a_move_outside_the_table_raises_the_library_error(moves, error):
    *legal, (move, *args) = moves
    machine = ours(*legal)
    with pytest.raises(error):
        move(machine, *args)


def test_data_on_a_stream_half_closed_by_the_client_is_a_connection_error():
    peer = Peer()
    assert [type(e) for e in peer.request(1)] == [ev.RequestHeaders]
    events = peer.send(data_frame(1, b"late"))
    assert [(type(e), e.error_code) for e in events] == [(ev.ConnectionError, 0x5)]
    goaway = [f for f in peer.output() if isinstance(f, GoAwayFrame)]
    assert goaway[0].error_code == 0x5     # STREAM_CLOSED


def test_data_on_a_closed_stream_is_dropped_and_the_window_handed_back():
    peer = Peer()
    peer.request(1)
    peer.server.send_headers(1, 200, [], True)
    peer.server.data_to_send()
    assert peer.send(data_frame(1, b"late")) == []
    assert peer.server.open_streams == 0


def test_the_response_moves_the_stream_to_closed_for_the_library():
    peer = Peer()
    peer.request(1, GET, end_stream=False)
    peer.server.send_headers(1, 200, [], False)
    assert peer.server.send_data(1, b"ok", True) == 2
    stream = peer.server._conn.streams[1]
    assert stream.state_machine.state is StreamState.HALF_CLOSED_LOCAL
    peer.send(data_frame(1, b"", end_stream=True))
    assert stream.state_machine.state is StreamState.CLOSED and peer.server.open_streams == 0


def test_a_server_reset_after_the_response_head_reaches_the_client():
    client = raw_client()
    stream_id = client.send_request(UPSTREAM_GET, True)
    assert [type(e) for e in raw_response(client, stream_id, [(b":status", b"200")],
                                          end_stream=False)] == [ev.ResponseHeaders]
    events = client.receive(RstStreamFrame(stream_id, error_code=0x8).serialize())
    assert [(type(e), e.error_code) for e in events] == [(ev.StreamReset, 0x8)]
    assert client.open_streams == 0
