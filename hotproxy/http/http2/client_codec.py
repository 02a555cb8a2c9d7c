"""Sans-IO HTTP/2, the upstream side: ``ClientCodec`` sends requests on streams it opens and turns
responses into events. Shares the frame loop, limits and flow control with the server side
(connection.Http2Codec).

A response without a valid ``:status``, with request pseudo-headers, or over the header limits is
handled as Envoy's codec handles a malformed message (codec.py); content-length is not checked
against the body on this side (responses to HEAD and 304s carry one without a body).
"""
import time

from . import events as ev
from .connection import MAX_STREAM_ID, REFUSED_STREAM, Http2Codec, lib, settings
from .sending import SEND_HEADERS
from .stream_states import connection_input, sent_request


class NoStreamAvailable(Exception):
    """``send_request`` with ``available_streams`` at 0 (the peer's limit, or its GOAWAY)."""


class ClientCodec(Http2Codec):
    """The upstream side. Call ``initiate()`` first: it queues the preface and SETTINGS."""

    def __init__(self, options, stats, clock=time.monotonic):
        super().__init__(options, stats, client_side=True, clock=clock)
        self._handlers = {
            lib.ResponseReceived: self._on_response,
            lib.InformationalResponseReceived: self._on_informational,
            lib.DataReceived: self._on_data, lib.TrailersReceived: self._on_trailers,
            lib.StreamReset: self._on_stream_reset, lib.WindowUpdated: self._on_window_updated,
            lib.PingReceived: self._on_ping, lib.RemoteSettingsChanged: self._on_settings_changed,
            lib.PingAckReceived: self._on_ping_ack,
            lib.SettingsAcknowledged: self._on_settings_acked}

    def initiate(self):
        self._initiate({settings.SettingCodes.ENABLE_PUSH: 0})

    @property
    def available_streams(self):
        """How many more streams the peer accepts now (0 after its GOAWAY)."""
        if self._goaway_received or self._closed:
            return 0
        limit = min(self._conn.remote_settings.max_concurrent_streams, MAX_STREAM_ID)
        return max(0, limit - len(self._streams))

    def send_request(self, headers, end_stream):
        """Open a stream with ``headers`` (pseudo-headers first); returns its id."""
        if not self.available_streams:
            raise NoStreamAvailable()
        conn = self._conn
        stream_id = conn.get_next_available_stream_id()
        conn.drop_closed_streams()
        library_stream = conn.open_stream(stream_id, False)
        # the library reads a response's content-length by the request's method (HEAD)
        library_stream.request_method = next(
            (value for name, value in headers if name == b":method"), None)
        connection_input(conn, SEND_HEADERS)
        sent_request(library_stream.state_machine, end_stream)
        self._write_header_block(stream_id, headers, end_stream)
        self._outbound.queued(1)
        self._open_stream(stream_id, True)
        if end_stream:
            self._streams[stream_id].local_open = False
        return stream_id

    _hot_responses = True

    def _response_head(self, stream_id, headers, events):
        """``(status, headers)`` of a well-formed response head, else None (stream or connection
        already answered)."""
        if stream_id not in self._streams:
            return None
        if not self._check_header_limits(stream_id, headers, events):
            return None
        status = headers[0][1] if headers and headers[0][0] == b":status" else b""
        if len(status) != 3 or not status.isdigit() or any(
                name[:1] == b":" for name, _ in headers[1:]):
            self._messaging_error(stream_id, "invalid response pseudo-headers", events)
            return None
        return int(status), headers[1:]

    def _on_informational(self, event, events):
        head = self._response_head(event.stream_id, event.headers, events)
        if head is not None:
            events.append(ev.InformationalHeaders(event.stream_id, *head))

    def _on_response(self, event, events):
        self._response(event.stream_id, event.headers, event.stream_ended is not None, events)

    def _response(self, stream_id, headers, end_stream, events):
        head = self._response_head(stream_id, headers, events)
        if head is None:
            return
        self._conn.streams[stream_id]._expected_content_length = None
        events.append(ev.ResponseHeaders(stream_id, head[0], head[1], end_stream))
        if end_stream:
            self._remote_ended(stream_id, self._streams[stream_id], events)

    def _on_data(self, event, events):
        self._data(event.stream_id, event.data, event.stream_ended is not None,
                   event.flow_controlled_length, events)

    def _data(self, stream_id, data, end_stream, flow_length, events):
        stream = self._streams.get(stream_id)
        if stream is None:
            self._conn.acknowledge_received_data(flow_length, stream_id)
            return
        events.append(ev.ResponseData(stream_id, data, end_stream, flow_length))
        if end_stream:
            self._remote_ended(stream_id, stream, events)

    def _on_trailers(self, event, events):
        stream_id = event.stream_id
        stream = self._streams.get(stream_id)
        if stream is None or not self._check_header_limits(stream_id, event.headers, events):
            return
        if any(name[:1] == b":" for name, _ in event.headers):
            self._messaging_error(stream_id, "pseudo-header in trailers", events)
            return
        events.append(ev.ResponseTrailers(stream_id, event.headers))
        self._remote_ended(stream_id, stream, events)

    def _on_goaway(self, frame, events):
        super()._on_goaway(frame, events)
        # The peer never saw these: safe to retry elsewhere.
        for stream_id in [sid for sid in self._streams if sid > frame.last_stream_id]:
            self._close_stream(stream_id, events)
            events.append(ev.StreamReset(stream_id, REFUSED_STREAM))
