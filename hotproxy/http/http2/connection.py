"""Sans-IO HTTP/2, what both sides share (``Http2Codec``): settings, the frame loop, flow
control, sending, GOAWAY. The downstream side is codec.ServerCodec, the upstream side
client_codec.ClientCodec.

Bytes in through ``receive`` (a list of events, events.py), calls out (``send_headers``,
``send_data`` …), bytes to write from ``data_to_send``. No socket, no gevent, no timer.

Library, chosen by bench/h2_codec.py: µs of CPU per request on the server side (a GET with 12
headers; a 200 with 5 headers and the body), 50 concurrent streams per batch, median of 5
interleaved reps, one process on this 2-core machine. h2 and jh2 are the bare libraries with their
own header validation; ServerCodec is this module on jh2, with its own validation instead:

    ============  ========  ========  ==================
    response      h2 4.4.1  jh2 5.0   ServerCodec on jh2
    12 B body       204       115           100
    64 KiB body     276       182           165
    ============  ========  ========  ==================

jh2 keeps h2's API with HPACK in Rust: about 44% less CPU per request, so it is the one. What is
left is jh2's Python framing and stream state machines (its open-stream count walks every stream
on each new one). It
differs from h2 in its defaults for the peer's settings (a 64 KiB HPACK table, a 6 MiB window,
which RFC 9113 §6.5.2 puts at 4096 and 65535 until the peer says otherwise): the codec sets them
back to the RFC's. Switching to h2 is the jh2 import lines (here, frame_buffer.py, sending.py).

The codec drives the library's frame loop itself (``_receive_frame`` per frame, a FrameBuffer
subclass to see every frame before CONTINUATIONs are joined: frame_buffer.py) because h2's
``receive_data`` turns any error into a connection error and drops the events decoded before it,
and because Envoy answers several cases differently (codec.py lists them; ``_screen`` and the
frame buffer's ``__next__`` give nghttp2's answers to frame errors). Header validation is the
codec's, not h2's.

Every header block is walked before the library decodes it (hpack_check.py): jh2's Rust HPACK
decoder panics on malformed blocks. The streams and sending are sending.py's, mixed in.
"""
import time

# The HTTP/2 library: h2 has the same modules (``from h2 import ...``).
from jh2 import config, connection, exceptions, settings
from jh2 import events as lib  # noqa: F401 (the codecs take the library's events from here)
from jh2.hyperframe.frame import WindowUpdateFrame

from . import events as ev
from .frame_buffer import SETTINGS, Abuse, InspectedFrameBuffer
from .hpack_check import hpack_block_error
from .library_connection import CompactSettings, LibraryConnection
from .limits import (CONTINUATION, DATA, HEADERS, PRIORITY, WINDOW_UPDATE, InboundFrameLimits,
                     OutboundFrameLimits)
from .hot_frames import HotFrames
from .sending import StreamsAndSending

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM = 0x0, 0x1, 0x2, 0x7
COMPRESSION_ERROR = 0x9
GOAWAY = 0x7
MAX_WINDOW = 2 ** 31 - 1
MAX_STREAM_ID = 2 ** 31 - 1
MAX_FIELD_SIZE = 65536  # nghttp2's NGHTTP2_HD_MAX_NV
RFC_PEER_DEFAULTS = {settings.SettingCodes.HEADER_TABLE_SIZE: 4096,
                     settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535,
                     settings.SettingCodes.MAX_FRAME_SIZE: 16384}


def _is_hpack_error(error):
    """An HPACK decoding error, or a header block decoding past the decoder's bound."""
    return (isinstance(error, exceptions.DenialOfServiceError)
            or str(error).startswith("Error decoding header block"))


class Http2Codec(HotFrames, StreamsAndSending):
    """What both sides share: settings, the frame loop, limits, flow control, sending, GOAWAY."""

    def __init__(self, options, stats, client_side, clock=time.monotonic):
        self.options, self.stats, self._clock = options, stats, clock
        conn = self._conn = LibraryConnection(config.H2Configuration(
            client_side=client_side, header_encoding=None,
            validate_outbound_headers=False, normalize_outbound_headers=False,
            validate_inbound_headers=False, normalize_inbound_headers=False))
        conn.incoming_buffer = InspectedFrameBuffer(self._inspect_frame, not client_side)
        conn.remote_settings = CompactSettings(client=not client_side, initial_values=RFC_PEER_DEFAULTS)
        header_limit = options.max_headers_kb * 1024
        conn.decoder.max_header_list_size = 8 * header_limit + 32 * options.max_headers_count
        conn.decoder.max_allowed_table_size = options.hpack_table_size
        self._header_block_limit = 8 * header_limit
        self._header_block_size = 0
        self._streams = {}
        self._inbound = InboundFrameLimits(options, stats)
        self._outbound = OutboundFrameLimits(options, stats)
        self._closed = False
        self._settings_received = client_side  # the server's SETTINGS: not checked
        self._settings_acked = False
        self._goaway_received = False
        self._pending = b""        # the start of a frame the hot path waits to see whole
        self._deferred_events = []  # produced by the owner's calls, returned by the next receive

    def _initiate(self, extra):
        """Queue the preface: the SETTINGS Envoy sends (``extra`` is the side's own setting, in
        Envoy's order), then the connection window."""
        options, codes, conn = self.options, settings.SettingCodes, self._conn
        advertised = {codes.HEADER_TABLE_SIZE: options.hpack_table_size, **extra,
                      codes.MAX_CONCURRENT_STREAMS: options.max_concurrent_streams,
                      codes.INITIAL_WINDOW_SIZE: options.initial_stream_window_size}
        # The library's local settings, which it enforces: not its defaults (it would advertise
        # a MAX_HEADER_LIST_SIZE Envoy does not), nor the stream limit (it would answer a stream
        # over it with a connection error where Envoy refuses the stream).
        conn.local_settings = CompactSettings(
            client=conn.config.client_side,
            initial_values={**advertised, codes.MAX_CONCURRENT_STREAMS: 2 ** 32 - 1})
        conn.initiate_connection()
        conn.clear_outbound_data_buffer()
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" if conn.config.client_side else b""
        conn._data_to_send += preface + connection.SettingsFrame(0, settings=advertised).serialize()
        extra_window = options.initial_connection_window_size - 65535
        if extra_window > 0:
            conn.increment_flow_control_window(extra_window)

    # ---- receiving

    def receive(self, data):
        """Feed bytes read from the socket; returns the events they complete."""
        events, self._deferred_events = self._deferred_events, []
        if self._closed:
            self.connection_lost()
            return events
        conn = self._conn
        conn.incoming_buffer.max_frame_size = conn.max_inbound_frame_size
        try:
            self._receive_frames(data, events)
        except Abuse as abuse:
            self._close(abuse.reason, events)
        except exceptions.ProtocolError as error:
            code = error.error_code
            if _is_hpack_error(error):
                code = COMPRESSION_ERROR
            self._connection_error(str(error), code, events)
        except connection.InvalidPaddingError:
            self._connection_error("invalid padding", PROTOCOL_ERROR, events)
        if not self._closed:
            reason = self._outbound.check()
            if reason:
                self._close(reason, events)
        if self._closed:
            self.connection_lost()
        return events

    def _receive_frames(self, data, events):
        """Each whole frame in turn to the hot path (hot_frames.py) or the library's. The library
        takes all the bytes while it holds some of its own: the preface, a partial frame, a header
        block awaiting its CONTINUATIONs."""
        buffer = self._conn.incoming_buffer
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if not self._settings_received or buffer._data or buffer._headers_buffer:
            self._receive_library(data, events)
            return
        view = memoryview(data)
        end = len(data)
        pos = library_from = 0
        while end - pos >= 9:
            frame_end = pos + 9 + (data[pos] << 16 | data[pos + 1] << 8 | data[pos + 2])
            if frame_end > end:
                break
            if library_from < pos and data[pos + 3] <= HEADERS:     # may be hot: order first
                if self._receive_library(view[library_from:pos], events):
                    return
                library_from = pos
                if buffer._headers_buffer:
                    break
            if library_from == pos and self._take_hot(view, pos, events):
                library_from = frame_end
                if self._closed:
                    return
            pos = frame_end
        if library_from < pos:
            if self._receive_library(view[library_from:pos], events):
                return
        if pos < end:
            if buffer._headers_buffer:
                self._receive_library(view[pos:], events)
            else:
                self._pending = bytes(view[pos:])

    def _receive_library(self, data, events):
        """The library's path for ``data``: True when the connection ended."""
        conn = self._conn
        buffer = conn.incoming_buffer
        buffer.add_data(data)
        for frame in buffer:
            queued = len(conn._data_to_send)
            try:
                if frame.type == GOAWAY:
                    self._on_goaway(frame, events)
                    continue
                if self._screen(frame):
                    continue
                handlers = self._handlers
                for event in conn._receive_frame(frame):
                    handler = handlers.get(event.__class__)
                    if handler is not None:
                        handler(event, events)
            except exceptions.ProtocolError as error:
                if self._is_malformed_message(frame, error):
                    self._messaging_error(frame.stream_id, f"malformed: {error}", events)
                elif frame.type in (DATA, CONTINUATION) or _is_hpack_error(error):
                    raise
                else:
                    # nghttp2 reports it to Envoy's on_invalid_frame_recv, which closes the
                    # connection without the GOAWAY the library queued
                    del conn._data_to_send[queued:]
                    self._close(f"invalid frame: {error}", events)
            if self._closed:
                return True
        return False

    def connection_lost(self):
        """The connection is over, ended by the codec or by the peer (the owner calls this when
        the socket closes): the streams still open end with it and leave the gauges."""
        self._closed = True
        streams, self._streams = self._streams, {}
        if streams:
            self.stats.streams_active -= len(streams)
            self.stats.pending_send_bytes -= sum(s.pending_send for s in streams.values())

    def _inspect_frame(self, frame):
        if not self._settings_received:
            # RFC 9113 §3.4: the client preface ends with a SETTINGS
            if frame.type != SETTINGS or "ACK" in frame.flags:
                raise exceptions.ProtocolError("the preface is not followed by SETTINGS")
            self._settings_received = True
        reason = self._inbound.track(frame)
        if reason:
            raise Abuse(reason)
        if frame.type == HEADERS or frame.type == CONTINUATION:
            if frame.type == HEADERS:
                self._header_block_size = 0
            self._header_block_size += len(frame.data)
            if self._header_block_size > self._header_block_limit:
                # Envoy resets the stream, decodes on, and ends with a GOAWAY COMPRESSION_ERROR
                self.stats.header_list_size_too_large += 1
                raise exceptions.DenialOfServiceError(
                    "header block larger than 8 times max_headers_kb")

    def _screen(self, frame):
        """What nghttp2 answers for Envoy before the library would see ``frame``: True when the
        frame is dropped (PRIORITY, which Envoy ignores; a frame on a closed stream); raises
        ``Abuse`` where Envoy closes without a GOAWAY (a WINDOW_UPDATE of 0, or one taking a
        stream window past 2^31-1), a connection error for DATA on a half-closed stream."""
        kind, stream_id = frame.type, frame.stream_id
        if kind == PRIORITY:
            return True
        if kind == HEADERS:
            reason = hpack_block_error(frame.data)
            if reason is not None:
                raise exceptions.ProtocolError(f"Error decoding header block: {reason}")
        conn = self._conn
        if kind == WINDOW_UPDATE:
            if frame.window_increment == 0:
                raise Abuse("WINDOW_UPDATE of 0")
            if stream_id and self._is_closed(stream_id):
                return True
            if stream_id in conn.streams and (conn.local_flow_control_window(stream_id)
                                              + frame.window_increment > MAX_WINDOW):
                raise Abuse("stream window past 2^31-1")
            return False
        if stream_id == 0 or not self._is_closed(stream_id):
            stream = self._streams.get(stream_id) if kind == DATA or kind == HEADERS else None
            if stream is not None and not stream.remote_open:
                if kind == HEADERS:
                    raise Abuse("HEADERS on a half-closed stream")
                self._discard_data(frame)
                raise exceptions.StreamClosedError(stream_id)
            return False
        if kind == DATA:
            self._discard_data(frame)
        elif kind == HEADERS:
            try:
                conn.decoder.decode(bytes(frame.data))    # the HPACK state moves on all the same
            except Exception as error:
                raise exceptions.ProtocolError(f"Error decoding header block: {error}") from None
        return True

    def _is_closed(self, stream_id):
        """The peer's stream ``stream_id`` was opened once and is closed now (both ends, or
        reset); frames on it are dropped."""
        conn = self._conn
        if stream_id > conn.highest_inbound_stream_id or stream_id % 2 == 0:
            return False
        stream = conn.streams.get(stream_id)
        return stream is None or stream.closed

    def _discard_data(self, frame):
        """DATA dropped still counts against the connection window, and is handed back."""
        manager = self._conn._inbound_flow_control_window_manager
        size = frame.flow_controlled_length
        manager.window_consumed(size)
        increment = manager.process_bytes(size)
        if increment:
            update = WindowUpdateFrame(0)
            update.window_increment = increment
            self._conn._prepare_for_sending([update])

    def _is_malformed_message(self, frame, error):
        """A library error about one message (a bad content-length, trailers without
        END_STREAM) rather than the connection: the stream exists and HPACK decoded."""
        return (type(error) is exceptions.ProtocolError and frame.type == HEADERS
                and frame.stream_id in self._conn.streams
                and not _is_hpack_error(error))

    def _on_goaway(self, frame, events):
        # Not given to the library: it would refuse to send anything more, even on the streams
        # the GOAWAY lets finish.
        self._goaway_received = True
        events.append(ev.GoAwayReceived(frame.last_stream_id, frame.error_code))

    def _on_stream_reset(self, event, events):
        if event.remote_reset:
            self.stats.rx_reset += 1
        if self._streams.get(event.stream_id) is not None:
            events.append(ev.StreamReset(event.stream_id, event.error_code))
            self._close_stream(event.stream_id, events)

    def _on_window_updated(self, event, events):
        events.append(ev.WindowOpened(event.stream_id))

    def _on_settings_changed(self, event, events):
        self._outbound.queued(1, control=True)  # the library queued the SETTINGS ack
        if settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            events.append(ev.WindowOpened(0))

    def _on_ping(self, event, events):
        self._outbound.queued(1, control=True)  # the library queued the PING ack

    def _on_ping_ack(self, event, events):
        events.append(ev.PingAck(event.ping_data))

    def _on_settings_acked(self, event, events):
        self._settings_acked = True
        events.append(ev.SettingsAcked())

    def _check_header_limits(self, stream_id, headers, events):
        """Envoy checks each header as it is decoded; the first limit passed is the one counted."""
        max_size, max_count = self.options.max_headers_kb * 1024, self.options.max_headers_count
        size = count = 0
        for name, value in headers:
            field = len(name) + len(value)
            if field > MAX_FIELD_SIZE:
                self._connection_error("header field larger than 64 KiB", COMPRESSION_ERROR,
                                       events)
                return False
            size += field
            count += 1
            if size > max_size:
                self.stats.header_list_size_too_large += 1
                break
            if count > max_count:
                self.stats.header_overflow += 1
                break
        else:
            return True
        self._reset(stream_id, INTERNAL_ERROR, events, "too_many_headers")
        return False

    def _messaging_error(self, stream_id, reason, events):
        self.stats.rx_messaging_error += 1
        if self.options.override_stream_error_on_invalid_http_message:
            self._reset(stream_id, PROTOCOL_ERROR, events, reason)
        else:
            self._close(reason, events)

    def _connection_error(self, reason, error_code, events):
        self._conn._terminate_connection(error_code)
        self._closed = True
        events.append(ev.ConnectionError(reason, error_code))

    def _close(self, reason, events):
        self._closed = True
        events.append(ev.ConnectionError(reason, None))

    def _reset(self, stream_id, error_code, events, reason=None):
        try:
            self._conn.reset_stream(stream_id, error_code)
        except exceptions.StreamClosedError:
            pass  # both ends already closed it: nothing to send, only the owner to tell
        else:
            self.stats.tx_reset += 1
            self._outbound.queued(1, control=True)
        if stream_id in self._streams:
            self._close_stream(stream_id, events)
            if reason is not None:
                events.append(ev.StreamError(stream_id, reason))

    def reset(self, stream_id, error_code=INTERNAL_ERROR):
        """Reset a stream (RST_STREAM); nothing more is received or sent on it."""
        self._reset(stream_id, error_code, None)
