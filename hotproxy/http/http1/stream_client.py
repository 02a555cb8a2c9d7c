"""Sans-IO HTTP/1.1 under the upstream HTTP/2 codec's interface (http2/client_codec.py), for the
connections of an ``auto_config`` cluster that ALPN settled on http/1.1: the multiplexed pool
(upstream/http2_pool.py) and the router's HTTP/2 exchange (router/h2_exchange.py) then drive
both kinds alike, as Envoy's mixed pool holds HTTP/1.1 and HTTP/2 clients side by side.

One stream at a time (``available_streams`` is 1 while the connection is idle and reusable,
else 0). The request head comes as HTTP/2 headers (pseudo-headers first) and goes out as an
HTTP/1.1 head with ``host`` from ``:authority``; a body without a content-length is chunked.
The response is decoded by the HTTP/1.1 response decoder into the HTTP/2 events. After a
response the connection may not carry another (``Connection: close``, a response that came
before the request's end, bytes beyond it, an exchange cut short): the codec then says
``GoAwayReceived``, and the pool closes the connection once the stream is released.

Tunnels, as Envoy converts them for an HTTP/1.1 upstream: an extended CONNECT (``:protocol``)
goes as a ``GET`` with ``Upgrade`` and its 101 comes back as a 200; a CONNECT goes as
``CONNECT <authority>`` and its 2xx comes back as is. After that head the bytes pass both ways as
DATA, and the upstream's close ends the stream.
"""
from __future__ import annotations

from ...errors import ProtocolError
from ..http2 import events as ev
from .decoding import END
from .heads import trailers_of
from .response_decoder import ResponseDecoder
from .serialize import LAST_CHUNK, chunk, request_head

#: methods whose requests carry a content-length of 0 when they have no body (as Envoy sends)
_BODY_METHODS = frozenset((b"POST", b"PUT", b"PATCH"))


class NoStreamAvailable(Exception):
    """``send_request`` while the connection carries a request, or can carry none."""


class Http1StreamCodec:
    def __init__(self, max_headers_kb=80, max_headers_count=100, enable_trailers=False):
        self._decoder = ResponseDecoder(max_headers_kb * 1024, max_headers_count)
        self._enable_trailers = enable_trailers
        self._out = []
        self._stream_id = None      # the stream in flight
        self._next_id = 1
        self._chunked = False
        self._request_ended = False
        self._reusable = True
        self._head = None
        self._tunnel = None         # "upgrade" / "connect" while a tunnel's head is awaited, then "open"
        self._unread = b""          # a tunnel's response head so far

    # --- the HTTP/2 ClientCodec's interface ---------------------------------------------------

    def initiate(self):
        """Nothing precedes the first request in HTTP/1.1."""

    @property
    def available_streams(self):
        return 1 if self._stream_id is None and self._reusable else 0

    def send_request(self, headers, end_stream):
        if not self.available_streams:
            raise NoStreamAvailable()
        stream_id = self._stream_id = self._next_id
        self._next_id += 2
        method = path = b""
        regular = []
        authority = None
        has_length = False
        for name, value in headers:
            if name[:1] == b":":
                if name == b":method":
                    method = value
                elif name == b":path":
                    path = value
                elif name == b":authority":
                    authority = value
                continue
            if name == b"content-length":
                has_length = True
            regular.append((name, value))
        if authority is not None:
            regular.insert(0, (b"host", authority))
        if method == b"CONNECT":
            return self._send_tunnel_request(stream_id, headers, path, authority or b"", regular)
        self._chunked = not end_stream and not has_length
        if self._chunked:
            regular.append((b"transfer-encoding", b"chunked"))
        elif end_stream and not has_length and method in _BODY_METHODS:
            regular.append((b"content-length", b"0"))
        self._out.append(request_head(method, path, regular))
        self._request_ended = end_stream
        if method == b"HEAD":
            self._decoder.expect_no_body()
        return stream_id

    def _send_tunnel_request(self, stream_id, headers, path, authority, regular):
        protocol = next((value for name, value in headers if name == b":protocol"), None)
        self._chunked = False
        self._request_ended = False
        self._reusable = False      # a tunnel, or its refusal, ends the connection
        if protocol is None:
            self._tunnel = "connect"
            self._out.append(request_head(b"CONNECT", authority, regular))
        else:
            self._tunnel = "upgrade"
            self._decoder.expect_upgrade()
            self._out.append(request_head(b"GET", path, [*regular, (b"connection", b"upgrade"),
                                                         (b"upgrade", protocol)]))
        return stream_id

    def send_data(self, stream_id, data, end_stream):
        """All of ``data`` is taken (HTTP/1.1 has no windows); returns its length."""
        if self._tunnel == "open":
            if data:
                self._out.append(bytes(data))
            return len(data)
        if stream_id != self._stream_id or self._request_ended:
            return len(data)
        if self._chunked:
            if data:
                self._out.append(chunk(bytes(data)))
            if end_stream:
                self._out.append(LAST_CHUNK)
        elif data:
            self._out.append(bytes(data))
        self._request_ended = end_stream
        return len(data)

    def data_to_send(self):
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def acknowledge(self, stream_id, flow_length):
        """No flow control in HTTP/1.1: the socket's own buffers are its window."""

    def reset(self, stream_id, error_code):
        """The exchange was abandoned: the connection cannot carry another one."""
        if stream_id == self._stream_id:
            self._stream_id = None
            self._reusable = False

    def receive(self, data):
        events = []
        stream_id = self._stream_id
        if stream_id is None:
            if data:    # nothing was asked: no answer to anything, as the HTTP/1.1 pool sees it
                self._reusable = False
                events.append(ev.ConnectionError("upstream.excess_bytes", None))
            return events
        if self._tunnel is not None:
            data = self._tunnel_bytes(data, stream_id, events)
            if not data:
                return events
        decoder = self._decoder
        try:
            self._relay(decoder.feed(data), stream_id, events)
        except ProtocolError as error:
            return self._failed(stream_id, error, events)
        if decoder.excess:
            self._reusable = False
        return events

    def receive_eof(self):
        """The upstream closed: ends a body delimited by the close, else cuts the stream."""
        events = []
        stream_id = self._stream_id
        self._reusable = False
        if stream_id is None:
            return events
        if self._tunnel == "open":
            self._stream_id = None
            events.append(ev.ResponseData(stream_id, b"", True, 0))
            events.append(ev.GoAwayReceived(stream_id, 0))
            return events
        try:
            self._relay(self._decoder.feed_eof(), stream_id, events)
        except ProtocolError as error:
            return self._failed(stream_id, error, events)
        return events

    # --- decoding -------------------------------------------------------------------------------

    def _tunnel_bytes(self, data, stream_id, events):
        """A tunnel's bytes: its data once open; until its response head is complete, that head
        is decoded here (a 101 or a CONNECT's 2xx opens it). What is left for the decoder (the
        rest of a refusal) is returned."""
        if self._tunnel == "open":
            if data:
                events.append(ev.ResponseData(stream_id, bytes(data), False, len(data)))
            return b""
        unread = self._unread = self._unread + bytes(data)
        end = unread.find(b"\r\n\r\n")
        if end < 0:
            if len(unread) > self._decoder._max_bytes:
                return unread       # the decoder refuses a head this large
            return b""
        head_bytes, rest = unread[:end + 4], unread[end + 4:]
        self._unread = b""
        kind = self._tunnel
        self._tunnel = None
        try:
            decoded = self._decoder.feed(head_bytes)
        except ProtocolError as error:
            self._failed(stream_id, error, events)
            return b""
        head = decoded[0] if decoded and decoded[0] is not END else None
        if head is None:        # interim 1xx only: wait for the final head
            self._tunnel = kind
            decoded.clear()
            return self._tunnel_bytes(rest, stream_id, events) if rest else b""
        opened = head.status == 101 if kind == "upgrade" else 200 <= head.status < 300
        if not opened:
            self._relay(decoded, stream_id, events)
            return rest
        decoded.clear()
        self._tunnel = "open"
        events.append(ev.ResponseHeaders(stream_id, 200 if kind == "upgrade" else head.status,
                                         head.headers, False))
        if rest:
            events.append(ev.ResponseData(stream_id, rest, False, len(rest)))
        return b""

    def _relay(self, decoded, stream_id, events):
        for item in decoded:
            if item is END:
                self._end(stream_id, events)
            elif isinstance(item, (bytes, bytearray, memoryview)):
                if item:
                    events.append(ev.ResponseData(stream_id, bytes(item), False, len(item)))
            else:
                self._head = item
                if not item.keep_alive:
                    self._reusable = False
                events.append(ev.ResponseHeaders(stream_id, item.status, item.headers, False))
        decoded.clear()

    def _end(self, stream_id, events):
        head, self._head = self._head, None
        trailers = trailers_of(head) if self._enable_trailers and head is not None else None
        if trailers:
            events.append(ev.ResponseTrailers(stream_id, trailers))
        elif events and events[-1].__class__ is ev.ResponseHeaders and events[-1].stream_id == stream_id:
            events[-1].end_stream = True
        else:
            events.append(ev.ResponseData(stream_id, b"", True, 0))
        self._stream_id = None
        if not self._request_ended:
            self._reusable = False      # answered before its request ended: the rest is unread
        if not self._reusable:
            events.append(ev.GoAwayReceived(stream_id, 0))

    def _failed(self, stream_id, error, events):
        self._stream_id = None
        self._reusable = False
        events.append(ev.StreamError(stream_id, error.details))
        events.append(ev.ConnectionError("upstream.invalid_response", None))
        return events


def codec_factory_for(cluster_config):
    """The HTTP/1.1 codec factory of an ``auto_config`` cluster's pools, None for any other."""
    if not cluster_config.auto_http:
        return None
    return lambda: Http1StreamCodec(cluster_config.max_response_headers_kb,
                                    cluster_config.max_response_headers_count,
                                    cluster_config.http1_enable_trailers)
