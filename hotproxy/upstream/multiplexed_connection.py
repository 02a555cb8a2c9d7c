"""One connection of the multiplexed pool (http2_pool.py): its codec (HTTP/2, or HTTP/1.1 one
stream at a time where ALPN chose it for an auto_config cluster), the reader greenlet that feeds
it and hands each event to the request of its stream, the writers that send what it framed in
order, and the end of its life: a GOAWAY, max_requests_per_connection, max_connection_duration
(drained: no new stream, closed when the last ends) or the pool's idle expiry."""
from __future__ import annotations

import time
from socket import timeout as SocketTimeout

import gevent

from ..batched_writes import FLUSH_NOW_BYTES, BatchedWriter
from .connect import ConnectFailure
from .http2_request import StreamEnded

RECV_SIZE = 256 * 1024
REFUSED_STREAM, CONNECT_ERROR = 0x7, 0xa
PROTOCOL_ERROR, INTERNAL_ERROR = 0x1, 0x2


class _BecameIdle(Exception):
    """Thrown into a reader waiting without a timeout: its connection's last stream ended."""


class Connection:
    """One multiplexed connection: its codec, its reader greenlet and its requests by stream."""

    def __init__(self, pool, sock):
        self.pool = pool
        self.sock = sock
        http1_codec = pool.pools.http1_codec_factory
        #: auto_config, and ALPN did not settle on h2: HTTP/1.1, one stream at a time
        self.http1 = http1_codec is not None and _alpn(sock) != "h2"
        self.codec = http1_codec() if self.http1 else pool.pools.codec_factory()
        self.events = pool.pools.events
        limits = pool.limits
        self.max_streams = limits.max_requests if limits is not None else 0     # 0: unlimited
        self._aging = None          # the greenlet that drains it at max_connection_duration
        self.requests = {}          # stream id -> Request
        self.reserved = 0           # slots handed out, streams not opened yet
        self.opened = 0             # streams opened so far
        self.closed = False
        self.goaway = False
        self.idle_since = time.monotonic()
        self.writer = BatchedWriter(self.codec, sock, self.close)
        #: write what the codec framed now: one writer at a time, in the order it was framed
        self.flush = self.writer.flush
        self.reader = None

    def room(self):
        if self.closed or self.goaway:
            return 0
        if self.max_streams:
            return min(self.codec.available_streams, self.max_streams - self.opened) - self.reserved
        return self.codec.available_streams - self.reserved

    def start(self, timeout):
        """Send the preface and wait (up to ``timeout``) for the peer's SETTINGS (HTTP/2)."""
        limits = self.pool.limits
        if limits is not None and limits.max_duration:
            self._aging = gevent.spawn_later(limits.max_duration, self._duration_reached)
        if self.http1:
            self.reader = gevent.spawn(self._read)
            return
        codec = self.codec
        codec.initiate()
        try:
            self.flush()
            self.sock.settimeout(timeout)
            data = self.sock.recv(RECV_SIZE)
            self.sock.settimeout(None)
            if not data or not self._dispatch(codec.receive(data)):
                raise OSError("closed before its SETTINGS")
            self.flush()
        except OSError as error:
            self.closed = True
            self.sock.close()
            self.pool.stats.upstream_cx_active -= 1     # connect() counted it
            self.pool.stats.upstream_cx_connect_fail += 1
            self.pool.host.stats.cx_connect_fail += 1
            if isinstance(error, SocketTimeout):
                self.pool.stats.upstream_cx_connect_timeout += 1
                raise ConnectFailure("connection timeout") from None
            raise ConnectFailure("remote connection failure") from None
        self.reader = gevent.spawn(self._read)

    def flush_soon(self, request):
        """Write what the codec framed once the greenlets ready now have run (BatchedWriter), so
        that the request heads (and window updates) of one turn of the loop leave in one write;
        a write that fails closes the connection, which ends its streams. HTTP/1.1, or past
        FLUSH_NOW_BYTES framed: now."""
        if self.http1 or self.codec.pending_bytes >= FLUSH_NOW_BYTES:
            self._flush_or_end(request)
        else:
            self.writer.flush_soon()

    def open(self, request, headers, end_stream):
        self.reserved -= 1
        stream_id = self.codec.send_request(headers, end_stream)
        request.stream_id = stream_id
        self.requests[stream_id] = request
        self.opened += 1
        if self.max_streams and self.opened >= self.max_streams:
            self.goaway = True      # retired: no further stream, closed when the last ends
            self.pool.stats.upstream_cx_max_requests += 1
        self.flush_soon(request)

    def _flush_or_end(self, request):
        try:
            self.flush()
        except OSError:
            self.close()
            raise StreamEnded("connection termination") from None

    def finished(self, request):
        if request.stream_id is None:
            self.reserved -= 1
        elif self.requests.pop(request.stream_id, None) is not None and not self.closed and (
                not request.complete or request.inbox):
            if not request.complete:
                # Envoy 1.40 resets a stream it abandons (its client left, a timeout) with
                # INTERNAL_ERROR, as the tunnels do
                self.codec.reset(request.stream_id, INTERNAL_ERROR)
                if self.http1:
                    self.goaway = True      # an HTTP/1.1 exchange cut short: nothing more on it
                else:
                    self.pool.stats.upstream_rq_tx_reset += 1
            if request.inbox:
                self._acknowledge_unread(request)
            try:
                self.flush()
            except OSError:
                self.close()
        if not self.requests and not self.reserved:
            self.idle_since = time.monotonic()
            if self.goaway:
                self.close()
            elif self.reader is not None and not self.closed:
                # the reader waits without a timeout while streams are open: it starts the
                # idle one now
                self.sock.hub.cancel_wait(self.sock._read_event, _BecameIdle(), False)

    def _acknowledge_unread(self, request):
        """The data its reader read for a stream ended early that nobody will relay still counts
        against the connection's window: handed back, or each such stream shrinks it for good
        (RFC 9113 6.9). What arrives after the reset is handed back by ``_dispatch``."""
        data_kind = self.events.ResponseData
        for event in request.inbox:
            if event.__class__ is data_kind and event.flow_length:
                self.codec.acknowledge(request.stream_id, event.flow_length)
        request.inbox.clear()

    def _read(self):
        try:
            while True:
                if self.requests or self.reserved:
                    try:
                        data = self.sock.recv(RECV_SIZE)
                    except _BecameIdle:
                        continue
                else:
                    data = None     # idle: closed once idle for the pool's idle expiry
                    expiry = self.pool.idle_expiry
                    with gevent.Timeout(expiry if expiry != float("inf") else None, False):
                        try:
                            data = self.sock.recv(RECV_SIZE)
                        except _BecameIdle:
                            continue
                    if data is None:
                        if self.requests or self.reserved:
                            continue    # taken meanwhile: not idle after all
                        if self.pool.counts_idle:
                            self.pool.stats.upstream_cx_idle_timeout += 1
                        break
                if not data:
                    if self.http1:      # the end of a body delimited by the close, if any
                        self._dispatch(self.codec.receive_eof())
                    break
                if not self._dispatch(self.codec.receive(data)):
                    break
                self.flush()
        except OSError:
            pass
        finally:
            self.close()

    def _dispatch(self, events):
        """Hand each event to its request; False when the connection is over."""
        ev = self.events
        requests = self.requests
        for event in events:
            kind = event.__class__
            if kind is ev.ResponseData or kind is ev.ResponseHeaders or kind is ev.ResponseTrailers:
                request = requests.get(event.stream_id)
                if request is not None:
                    request.deliver(event)
                elif kind is ev.ResponseData:
                    self.codec.acknowledge(event.stream_id, event.flow_length)
            elif kind is ev.WindowOpened:
                if event.stream_id == 0:
                    for request in requests.values():
                        request.window.set()
                elif event.stream_id in requests:
                    requests[event.stream_id].window.set()
            elif kind is ev.StreamReset or kind is ev.StreamError:
                request = requests.get(event.stream_id)
                if request is not None:
                    request.complete = True     # over on the wire: nothing to reset
                    request.end(_reset_reason(event, ev))
                    _count_reset(self.pool.stats, event, ev)
            elif kind is ev.GoAwayReceived:
                self.goaway = True
                self.pool._wake()
            elif kind is ev.ConnectionError:
                if self.http1:  # bytes nobody asked for, or a response it could not read
                    self.pool.stats.upstream_cx_protocol_error += 1
                try:
                    self.flush()
                except OSError:
                    pass
                self.close("protocol error")
                return False
        return True

    def _duration_reached(self):
        """max_connection_duration: drained (no new stream), closed once its streams ended."""
        self._aging = None
        if self.closed:
            return
        self.pool.stats.upstream_cx_max_duration_reached += 1
        self.goaway = True
        if not self.requests and not self.reserved:
            self.close()
        else:
            self.pool._wake()

    def close(self, reason="connection termination"):
        if self.closed:
            return
        self.closed = True
        self.writer.close()
        if self._aging is not None and self._aging is not gevent.getcurrent():
            self._aging.kill(block=False)
        self.sock.close()
        for request in list(self.requests.values()):
            request.end(reason)
        self.pool.forget(self)
        reader = self.reader
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=False)


def _alpn(sock):
    """The protocol ALPN settled on for a TLS connection (None: plain text, or none chosen)."""
    selected = getattr(sock, "selected_alpn_protocol", None)
    return selected() if selected is not None else None


def _count_reset(stats, event, ev):
    """As Envoy's pool counts a stream's end: a reset it received (not one refusing the stream,
    nor CONNECT_ERROR), or its codec's own reset of a malformed response."""
    if event.__class__ is ev.StreamError:
        stats.upstream_rq_tx_reset += 1
    elif event.error_code != REFUSED_STREAM and event.error_code != CONNECT_ERROR:
        stats.upstream_rq_rx_reset += 1


def _reset_reason(event, ev):
    if event.__class__ is ev.StreamError or event.error_code == PROTOCOL_ERROR:
        return "protocol error"     # Envoy's reason for a PROTOCOL_ERROR reset too
    return "remote refused stream reset" if event.error_code == REFUSED_STREAM else "remote reset"
