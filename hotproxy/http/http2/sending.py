"""The streams and the sending half of ``connection.Http2Codec``: the per-stream state
(``Stream``), opening and ending streams, and the frames the owner sends (DATA within the send
windows, trailers, PING, GOAWAY) and takes as bytes."""
from jh2.hyperframe.frame import GoAwayFrame


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
        total = len(data)
        size = min(total, conn.local_flow_control_window(stream_id))
        frame_size = conn.max_outbound_frame_size
        view, sent, frames = memoryview(data), 0, 0
        while sent < size:
            chunk = view[sent:min(size, sent + frame_size)]
            sent += len(chunk)
            conn.send_data(stream_id, chunk, end_stream=end_stream and sent == total)
            frames += 1
        if end_stream and total == 0:
            conn.send_data(stream_id, b"", end_stream=True)
            frames = 1
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
        self._conn.send_headers(stream_id, headers, end_stream=True)
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
        return self._conn.data_to_send()

    @property
    def open_streams(self):
        return len(self._streams)
