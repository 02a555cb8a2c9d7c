"""The streams and the sending half of ``connection.Http2Codec``: the per-stream state
(``Stream``), opening and ending streams, and the frames the owner sends (DATA within the send
windows, trailers, PING, GOAWAY) and takes as bytes.

HEADERS and DATA on a stream the peer opened are framed here rather than by the library (its
frame objects, per-frame logging and header validation were a third of the codec's calls per
request): the library's stream states are still moved (stream_states.py), so that they judge the
peer's frames as before, its HPACK encoder encodes the block, and the bytes go onto its
outbound buffer in order with the frames it queues itself.
"""
import struct

from jh2.connection import ALTERNATIVE_HPACK, ConnectionInputs
from jh2.hyperframe.frame import GoAwayFrame

from .stream_states import connection_input, sent_data, sent_head_or_trailers, sent_informational

FRAME_HEAD = struct.Struct(">BHBBL")    # length (24 bits: high byte, low 16), type, flags, stream
DATA_TYPE, HEADERS_TYPE, CONTINUATION_TYPE = 0x0, 0x1, 0x9
END_STREAM, END_HEADERS = 0x1, 0x4
SEND_HEADERS, SEND_DATA = ConnectionInputs.SEND_HEADERS, ConnectionInputs.SEND_DATA


def _frame_head(length, kind, flags, stream_id):
    return FRAME_HEAD.pack(length >> 16, length & 0xFFFF, kind, flags, stream_id)


class Stream:
    __slots__ = ("opened_at", "remote_open", "local_open", "responded", "expected_length",
                 "received_length", "pending_send")

    def __init__(self, opened_at, remote_open, expected_length=None):
        self.opened_at, self.remote_open, self.local_open = opened_at, remote_open, True
        self.responded = False
        self.expected_length, self.received_length, self.pending_send = expected_length, 0, 0


class StreamsAndSending:
    """Mixed into ``Http2Codec``, whose ``__init__`` sets what it uses: ``_conn`` (the library's
    connection), ``_streams``, ``_inbound``/``_outbound`` (limits.py), ``stats``, ``_clock``."""

    def _open_stream(self, stream_id, remote_open, expected_length=None):
        self._streams[stream_id] = Stream(self._clock(), remote_open, expected_length)
        self.stats.streams_active += 1

    def _close_stream(self, stream_id, events):
        stream = self._streams.pop(stream_id)
        self.stats.streams_active -= 1
        self.stats.pending_send_bytes -= stream.pending_send
        return stream

    def _remote_ended(self, stream_id, stream, events):
        stream.remote_open = False
        if not stream.local_open:
            self._close_stream(stream_id, events)

    def _local_ended(self, stream_id, stream):
        stream.local_open = False
        if not stream.remote_open:
            self._close_stream(stream_id, None)

    def acknowledge(self, stream_id, flow_length):
        """The owner consumed ``flow_length`` bytes of a data event: the windows may reopen (the
        library batches WINDOW_UPDATEs until half a window is consumed)."""
        self._conn.acknowledge_received_data(flow_length, stream_id)

    def ping(self, opaque_data):
        """Send a PING (8 bytes; connection keepalive): its ack comes back as ``PingAck``."""
        self._conn.ping(opaque_data)
        self._outbound.queued(1, control=True)

    def _frame_headers(self, stream_id, headers, end_stream, informational=False):
        """HEADERS (and CONTINUATIONs past the peer's frame size) on an open stream: a response
        head (``informational``: a 1xx one) or trailers."""
        conn = self._conn
        connection_input(conn, SEND_HEADERS)
        machine = conn._get_stream_by_id(stream_id).state_machine
        if informational:
            sent_informational(machine)
        else:
            sent_head_or_trailers(machine, end_stream)
        self._write_header_block(stream_id, headers, end_stream)

    def _write_header_block(self, stream_id, headers, end_stream):
        """The HEADERS frame and its CONTINUATIONs, the stream states already moved."""
        conn = self._conn
        # jh2's native encoder takes (name, value, never_indexed); its pure-Python one pairs
        block = conn.encoder.encode([(name, value, False) for name, value in headers]
                                    if ALTERNATIVE_HPACK else headers)
        out, size, length = conn._data_to_send, conn.max_outbound_frame_size, len(block)
        flags = END_STREAM if end_stream else 0
        if length <= size:
            out += _frame_head(length, HEADERS_TYPE, flags | END_HEADERS, stream_id)
            out += block
            return
        view = memoryview(block)
        out += _frame_head(size, HEADERS_TYPE, flags, stream_id)
        out += view[:size]
        for offset in range(size, length, size):
            piece = view[offset:offset + size]
            last = offset + size >= length
            out += _frame_head(len(piece), CONTINUATION_TYPE, END_HEADERS if last else 0, stream_id)
            out += piece

    def send_window(self, stream_id):
        """Bytes ``send_data`` may frame now on the stream (0: the connection's window)."""
        conn = self._conn
        if stream_id == 0:
            return conn.outbound_flow_control_window
        return conn.local_flow_control_window(stream_id)

    def send_data(self, stream_id, data, end_stream):
        """Frame as much of ``data`` as the send windows allow; returns the bytes framed. The
        owner keeps the rest and calls again after a ``WindowOpened``. ``end_stream`` is sent
        with the last byte only."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return 0
        conn = self._conn
        library_stream = conn._get_stream_by_id(stream_id)
        total = len(data)
        size = min(total, conn.outbound_flow_control_window,
                   library_stream.outbound_flow_control_window)
        if size < 0:    # a window the peer's SETTINGS took below zero (RFC 9113 §6.9.2)
            size = 0
        sent = frames = 0
        if size or end_stream and total == 0:
            connection_input(conn, SEND_DATA)
            sent_data(library_stream.state_machine, end_stream and size == total)
            frame_size, out = conn.max_outbound_frame_size, conn._data_to_send
            view = memoryview(data)
            while True:
                chunk = view[sent:min(size, sent + frame_size)]
                sent += len(chunk)
                frames += 1
                if end_stream and sent == total:
                    out += _frame_head(len(chunk), DATA_TYPE, END_STREAM, stream_id)
                    out += chunk
                    break
                out += _frame_head(len(chunk), DATA_TYPE, 0, stream_id)
                out += chunk
                if sent >= size:
                    break
            library_stream.outbound_flow_control_window -= sent
            conn.outbound_flow_control_window -= sent
        self._inbound.data_frames_sent += frames
        self._outbound.queued(frames)
        pending = total - sent
        self.stats.pending_send_bytes += pending - stream.pending_send
        stream.pending_send = pending
        if end_stream and sent == total:
            self._local_ended(stream_id, stream)
        return sent

    def send_trailers(self, stream_id, headers):
        """Trailers end the stream."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        self._frame_headers(stream_id, headers, True)
        self._outbound.queued(1)
        self._local_ended(stream_id, stream)

    def _queue_goaway(self, last_stream_id, error_code):
        frame = GoAwayFrame(0)
        frame.last_stream_id, frame.error_code = last_stream_id, error_code
        self._conn._prepare_for_sending([frame])
        self._outbound.queued(1)

    def data_to_send(self):
        """The bytes to write now. Take them when the socket can take them: frames queued and not
        taken count against max_outbound_frames / max_outbound_control_frames."""
        self._outbound.drained()
        conn = self._conn
        data, conn._data_to_send = conn._data_to_send, bytearray()
        return data

    @property
    def pending_bytes(self):
        """Bytes framed and not yet taken by ``data_to_send``."""
        return len(self._conn._data_to_send)

    @property
    def open_streams(self):
        return len(self._streams)
