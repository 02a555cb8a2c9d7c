"""The stream states of RFC 9113 §5.1, moved by the codec itself on its hot paths (``received_*``,
``sent_*``): the transitions of an ordinary request and response, applied to jh2's per-stream
state machine as one lookup in a table of plain ints, where jh2's ``process_input`` hashes an
enum pair in Python, runs a callback and builds an event the codec throws away (8 times per
request on the server side, more on the client's).

The library's machine stays the one record of a stream's state: these functions set the same
state and the same flags (``client``, ``headers_sent``, ``headers_received``,
``trailers_received``, ``stream_closed_by``) as its callbacks, so its own path judges the
peer's later frames (RST_STREAM, WINDOW_UPDATE, frames on closed streams) as before. Any
transition not in the table (a frame on a closed stream, DATA before the response head, a
second final response) goes to ``process_input``, which raises the library's error for it: the
codec answers that error as it always has.

The connection's machine only leaves its open state on a GOAWAY sent, where the codec is closed:
``connection_input`` skips it while it is open (the hot inputs keep it open, with no callback).
"""
from jh2.connection import ConnectionState
from jh2.stream import StreamClosedBy, StreamInputs, StreamState

IDLE, OPEN, CLOSED = StreamState.IDLE, StreamState.OPEN, StreamState.CLOSED
HALF_CLOSED_LOCAL, HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_LOCAL, StreamState.HALF_CLOSED_REMOTE
_CLIENT_OPEN, _SERVER_OPEN = ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN
_CLOSED_BY_SENT_END, _CLOSED_BY_RECEIVED_END = (StreamClosedBy.SEND_END_STREAM,
                                                StreamClosedBy.RECV_END_STREAM)

# The hot inputs, as small ints: each row of the table is (input, state before) -> state after.
RECEIVE_HEADERS, RECEIVE_DATA, RECEIVE_END = 0, 1, 2
SEND_HEADERS, SEND_DATA, SEND_END = 3, 4, 5
_LIBRARY_INPUT = {RECEIVE_HEADERS: StreamInputs.RECV_HEADERS, RECEIVE_DATA: StreamInputs.RECV_DATA,
                  RECEIVE_END: StreamInputs.RECV_END_STREAM, SEND_HEADERS: StreamInputs.SEND_HEADERS,
                  SEND_DATA: StreamInputs.SEND_DATA, SEND_END: StreamInputs.SEND_END_STREAM}
TRANSITIONS = {
    (RECEIVE_HEADERS, IDLE): OPEN,                 # a request (server side)
    (RECEIVE_HEADERS, OPEN): OPEN,                 # a final response (client side)
    (RECEIVE_HEADERS, HALF_CLOSED_LOCAL): HALF_CLOSED_LOCAL,
    (RECEIVE_DATA, OPEN): OPEN,
    (RECEIVE_DATA, HALF_CLOSED_LOCAL): HALF_CLOSED_LOCAL,
    (RECEIVE_END, OPEN): HALF_CLOSED_REMOTE,
    (RECEIVE_END, HALF_CLOSED_LOCAL): CLOSED,
    (SEND_HEADERS, IDLE): OPEN,                    # a request (client side)
    (SEND_HEADERS, OPEN): OPEN,                    # a response (server side)
    (SEND_HEADERS, HALF_CLOSED_REMOTE): HALF_CLOSED_REMOTE,
    (SEND_DATA, OPEN): OPEN,
    (SEND_DATA, HALF_CLOSED_REMOTE): HALF_CLOSED_REMOTE,
    (SEND_END, OPEN): HALF_CLOSED_LOCAL,
    (SEND_END, HALF_CLOSED_REMOTE): CLOSED,
}


def connection_input(conn, library_input):
    """Tell the connection's machine of a HEADERS or DATA sent or received, unless it is open."""
    machine = conn.state_machine
    state = machine.state
    if state is not _SERVER_OPEN and state is not _CLIENT_OPEN:
        machine.process_input(library_input)


def _library(machine, hot_input, end_input):
    """The library's own path, for anything outside the table: it moves or raises its error."""
    machine.process_input(_LIBRARY_INPUT[hot_input])
    if end_input is not None:
        machine.process_input(_LIBRARY_INPUT[end_input])


def _apply(machine, hot_input, end_input, closed_by):
    """``hot_input``, then END_STREAM when ``end_input`` is given; False (nothing changed) when
    either move is not in the table."""
    state = TRANSITIONS.get((hot_input, machine.state))
    if state is None:
        return False
    if end_input is None:
        machine.state = state
        return True
    ended = TRANSITIONS.get((end_input, state))
    if ended is None:
        return False
    machine.state = ended
    if ended is CLOSED:
        machine.stream_closed_by = closed_by
    return True


def received_request(machine, end_stream):
    """A request's HEADERS on a stream the library just created (server side)."""
    end = RECEIVE_END if end_stream else None
    if machine.client is None and _apply(machine, RECEIVE_HEADERS, end, _CLOSED_BY_RECEIVED_END):
        machine.client = False
        machine.headers_received = True
    else:
        _library(machine, RECEIVE_HEADERS, end)


def received_response(machine, end_stream):
    """The final response head of a stream this side opened (client side)."""
    end = RECEIVE_END if end_stream else None
    if (machine.client is True and not machine.headers_received
            and _apply(machine, RECEIVE_HEADERS, end, _CLOSED_BY_RECEIVED_END)):
        machine.headers_received = True
    else:
        _library(machine, RECEIVE_HEADERS, end)


def received_data(machine, end_stream):
    end = RECEIVE_END if end_stream else None
    if not (machine.headers_received
            and _apply(machine, RECEIVE_DATA, end, _CLOSED_BY_RECEIVED_END)):
        _library(machine, RECEIVE_DATA, end)


def sent_request(machine, end_stream):
    """A request's HEADERS on a stream the library just created (client side)."""
    end = SEND_END if end_stream else None
    if machine.client is None and _apply(machine, SEND_HEADERS, end, _CLOSED_BY_SENT_END):
        machine.client = True
        machine.headers_sent = True
    else:
        _library(machine, SEND_HEADERS, end)


def sent_head_or_trailers(machine, end_stream):
    """A final response head (server side), or trailers (either side)."""
    end = SEND_END if end_stream else None
    if (not machine.trailers_sent and (machine.headers_sent or machine.client is False)
            and _apply(machine, SEND_HEADERS, end, _CLOSED_BY_SENT_END)):
        if machine.headers_sent:
            machine.trailers_sent = True
        machine.headers_sent = True
    else:
        _library(machine, SEND_HEADERS, end)


def sent_informational(machine):
    """A 1xx response head (server side), before the final one."""
    if not (machine.client is False and not machine.headers_sent
            and _apply(machine, SEND_HEADERS, None, None)):
        machine.process_input(StreamInputs.SEND_INFORMATIONAL_HEADERS)


def sent_data(machine, end_stream):
    end = SEND_END if end_stream else None
    if not _apply(machine, SEND_DATA, end, _CLOSED_BY_SENT_END):
        _library(machine, SEND_DATA, end)
