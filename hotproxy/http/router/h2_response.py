"""The response of an HTTP/2 upstream's stream relayed downstream (h2_exchange.py, and the tunnels
of h2_upstream_tunnel.py): its head through ``downstream_head`` as the HTTP/1.1 decoder's head
would go, its DATA to the stream's filters or framed as HTTP/1.1 (raw with a content-length, else
chunked), each piece acknowledged to the upstream once it went downstream, its trailers to an
HTTP/2 client, or to an HTTP/1.1 one in a chunked body's last chunk where the connection manager
enables them."""
from __future__ import annotations

import time

from ...deadlines import sooner_of
from ..http1.serialize import LAST_CHUNK, chunk, last_chunk
from ..http2 import events as ev
from ..http2.codec import CONNECTION_SPECIFIC
from .downstream_head import CHUNKED, FILTERED, RAW, downstream_head
from .outcomes import report
from .retry import RETRY


def relay(router, stream, conn, state, route_deadline, idle):
    """Relay the response as it arrives; False when its head is to be retried (``state``)."""
    request = stream.upstream
    head_only = stream.head.method == b"HEAD"
    sent_at = time.monotonic()
    conn.set_deadline(sooner_of(route_deadline, sent_at, idle))
    framing = None
    while True:
        event = request.next_event()
        kind = event.__class__
        if kind is ev.InformationalHeaders:
            continue        # a 1xx: swallowed, as Envoy does by default
        end = kind is ev.ResponseTrailers or event.end_stream
        if kind is ev.ResponseHeaders:
            if state is not None and not stream.responded:
                if state.on_response(event.status, event.headers) is RETRY:
                    report(stream, event.status)
                    request.pool.host.stats.rq_error += 1
                    router._release(stream, False)
                    return False
            out = []
            framing = downstream_head(router, stream, _Head(event), out, sent_at, head_only,
                                      conn, None)
            if out:
                conn.send_response(out)
            if end:
                _end_body(stream, conn, framing)
        elif kind is ev.ResponseData:
            try:
                _relay_data(stream, conn, framing, event.data, end)
            except BaseException:
                request.inbox.appendleft(event)     # not relayed: the pool hands it back
                raise
            request.consumed(event.flow_length)
        elif kind is ev.ResponseTrailers:
            _relay_trailers(stream, conn, framing, event.headers)
        if end:
            request.complete = True
            stream.cluster.rq_time.record((time.monotonic() - sent_at) * 1000)
            router._release(stream, True)
            return True
        conn.set_deadline(sooner_of(route_deadline, time.monotonic(), idle))


def _relay_data(stream, conn, framing, data, end):
    if framing is FILTERED:
        if not stream.filters.encoding_ended:
            stream.filters.encode_data(data, end)
        return
    if framing is RAW:
        if data:
            stream.info.bytes_sent += len(data)
            conn.send_body(data)
    elif framing is CHUNKED:
        parts = []
        if data:
            stream.info.bytes_sent += len(data)
            parts.append(chunk(data))
        if end:
            parts.append(LAST_CHUNK)
        if parts:
            conn.send_response(parts)


def _end_body(stream, conn, framing):
    if framing is FILTERED:
        if not stream.filters.encoding_ended:
            stream.filters.encode_data(b"", True)
    elif framing is CHUNKED:
        conn.send_response([LAST_CHUNK])


def _relay_trailers(stream, conn, framing, trailers):
    """Trailers end the response: through the filters (filter_chain.encode_trailers, which an
    HTTP/2 client gets them from); an unfiltered HTTP/1.1 response in its last chunk where the
    connection manager enables them (Envoy's enable_trailers), else it just ends."""
    if framing is FILTERED and not stream.filters.encoding_ended:
        stream.filters.encode_trailers(trailers)
    elif framing is CHUNKED and conn.hcm.config.enable_trailers:
        conn.send_response([last_chunk(trailers)])
    else:
        _end_body(stream, conn, framing)


class _Head:
    """An HTTP/2 response head shaped as http1's ResponseHead, for ``downstream_head``."""

    __slots__ = ("status", "headers", "content_length", "keep_alive", "connection", "server_at",
                 "has_date")

    def __init__(self, event):
        self.status = event.status
        headers = self.headers = []
        self.content_length = None
        for item in event.headers:
            name = item[0]
            if name in CONNECTION_SPECIFIC:
                continue
            if name == b"content-length":
                self.content_length = item[1]
            headers.append(item)
        if event.end_stream and self.content_length is None and not 100 <= self.status < 200:
            self.content_length = b"0"      # no body follows: nothing to chunk
            if self.status not in (204, 304):
                headers.append((b"content-length", b"0"))
        self.keep_alive = True
        self.connection = None
        self.server_at = -2         # not known: downstream_head looks
        self.has_date = False
