"""Per-worker, per-host multiplexed HTTP/2 connection pool.

Each connection carries many requests at once: a reader greenlet feeds its codec and hands each
event to the request of its stream; writers take the codec's bytes one at a time, in the order
they were framed. A request takes a stream slot on a connection with room (the peer's
SETTINGS_MAX_CONCURRENT_STREAMS, counted with slots handed out and not yet opened); with none,
a new connection is opened, or the request waits for one that is being opened or for a slot to
free. The cluster's circuit breakers bound it as they bound pool.py's: ``max_requests`` per
request, ``max_connections`` per connection (the first one is opened regardless, as Envoy's),
``max_pending_requests`` for requests that wait.

A new connection is handed out once the peer's SETTINGS arrived (its stream limit is known then).
After a GOAWAY a connection takes no new stream and closes when its last one ends; the streams the
peer refused by it end as ``remote refused stream reset`` (safe to retry).

The codec is the caller's (``codec_factory`` and its ``events`` module: http/http2/): upstream/
speaks no protocol of its own. An ``auto_config`` cluster's pools also take an
``http1_codec_factory``: a connection whose TLS handshake settled on anything but ``h2`` by ALPN
gets that codec instead (one stream at a time, under the same interface), as Envoy's mixed pool
holds HTTP/1.1 and HTTP/2 clients. Once a host answered http/1.1, its pool opens a connection
per waiting request instead of waiting for one being opened to multiplex.

The cluster's connection limits (connection_limits.py) apply per connection: it stops taking
streams after ``max_requests_per_connection`` of them or once ``max_connection_duration`` has
passed, and closes when its last stream ends; ``idle_timeout`` closes it once idle that long.
"""
from __future__ import annotations

import time

from gevent.event import Event

from ..stats.schema import stat_set
from .connect import ConnectFailure, connect
from .connection_limits import counts_idle_timeout, idle_expiry
from .http2_request import Request, StreamEnded
from .multiplexed_connection import Connection

#: StreamEnded is what the pool's users catch from a stream
__all__ = ["Http2Pools", "Http2Pool", "StreamEnded", "UpstreamHttp2Stats"]

UpstreamHttp2Stats = stat_set("UpstreamHttp2Stats", ("upstream_cx_http2_total",))

#: an idle connection older than this is closed rather than used (the peer likely dropped it),
#: unless the cluster sets an idle_timeout
IDLE_EXPIRY_S = 55.0


class Http2Pools:
    """One cluster's HTTP/2 pools in this worker, with their stats (``cluster.<name>.http2.*``
    from ``codec_stats``; ``upstream_cx_http2_total`` in ``stats``)."""

    def __init__(self, cluster, codec_factory, events, codec_stats, downstream_only=False,
                 http1_codec_factory=None):
        self.cluster = cluster
        self.codec_factory = codec_factory  # () -> a ClientCodec
        #: auto_config: () -> the codec of a connection ALPN did not settle on h2
        self.http1_codec_factory = http1_codec_factory
        self.events = events
        self.codec_stats = codec_stats
        self.stats = UpstreamHttp2Stats()
        self.downstream_only = downstream_only
        self._pools = {}

    def takes(self, stream):
        """Whether ``stream``'s request goes over HTTP/2 (use_downstream_protocol_config)."""
        return not self.downstream_only or stream.head.version == "2"

    def pool(self, host, high=False):
        key = (host, high)
        pool = self._pools.get(key)
        if pool is None:
            breakers = self.cluster.high.breakers if high else self.cluster.breakers
            pool = self._pools[key] = Http2Pool(self, host, breakers)
        return pool

    def close(self):
        for pool in self._pools.values():
            pool.close()


class Http2Pool:
    def __init__(self, pools, host, breakers):
        cluster = pools.cluster
        self.pools = pools
        self.host = host
        self.breakers = breakers
        self.stats = cluster.stats
        self.overflow_stats = cluster.breaker_stats
        self.connect_timeout = cluster.config.connect_timeout
        self.bind = cluster.config.upstream_bind_config
        self.limits = limits = cluster.connection_limits
        self.idle_expiry = idle_expiry(limits) if limits is not None else IDLE_EXPIRY_S
        self.counts_idle = counts_idle_timeout(limits)
        self.http1 = False      # the host answered http/1.1 by ALPN (auto_config)
        self.connections = []
        self.connecting = 0
        self._changed = _Signal()   # replaced each time it is set: a slot or a connection came
        self.total = 0

    def __repr__(self):
        return f"<Http2Pool {self.host.label} connections={len(self.connections)}>"

    # --- taking and giving back a stream slot ---------------------------------------------------

    def acquire(self):
        """A Request holding a stream slot (and its place under max_requests); raises
        ConnectFailure."""
        requests = self.breakers.requests
        if requests is not None and not requests.try_acquire():
            self.overflow_stats.upstream_rq_active_overflow += 1
            raise ConnectFailure("overflow")
        try:
            conn = self._slot()
        except BaseException:
            if requests is not None:
                requests.release()
            raise
        request = Request(conn)
        request.holds_request = requests is not None
        return request

    acquire_fresh = acquire

    def release(self, request, reusable):
        """The exchange is over; a stream still open is reset (the connection stays)."""
        if request.holds_request:
            request.holds_request = False
            self.breakers.requests.release()
        request.connection.finished(request)
        self._wake()

    def _slot(self):
        pending = False
        deadline = 0.0
        try:
            while True:
                conn = self._with_room()
                if conn is not None:
                    conn.reserved += 1
                    return conn
                if (not self.connecting or self.http1) and self._may_connect():
                    return self._connect()
                if not pending:
                    if not self.breakers.pending.try_acquire():
                        self.stats.upstream_rq_pending_overflow += 1
                        raise ConnectFailure("overflow")
                    pending = True
                    self.stats.upstream_rq_pending_total += 1
                    deadline = time.monotonic() + self.connect_timeout
                changed = self._changed
                left = deadline - time.monotonic()
                if left <= 0 or not changed.event.wait(left):
                    raise ConnectFailure("connection timeout")
                if changed.failure is not None:
                    raise ConnectFailure(changed.failure)
        finally:
            if pending:
                self.breakers.pending.release()

    def _with_room(self):
        now = time.monotonic()
        for conn in list(self.connections):
            if conn.closed:
                continue
            if not conn.requests and not conn.reserved and now - conn.idle_since > self.idle_expiry:
                if self.counts_idle:
                    self.stats.upstream_cx_idle_timeout += 1
                conn.close()
                continue
            if conn.room() > 0:
                return conn
        return None

    def _may_connect(self):
        if self.breakers.connections.try_acquire():
            return True
        self.overflow_stats.upstream_cx_overflow += 1
        if not self.connections:    # Envoy's pool opens its first connection regardless
            self.breakers.connections.add()
            return True
        return False

    def _connect(self):
        """Open a connection (its place under max_connections is taken) and take a slot on it."""
        self.connecting += 1
        self.total += 1
        try:
            sock = connect(self.host, self.stats, self.connect_timeout, self.host.transport, None,
                           self.bind)
            conn = Connection(self, sock)
            conn.start(self.connect_timeout)
        except ConnectFailure as failure:
            self.total -= 1
            self.breakers.connections.release()
            self._wake(failure.reason)
            raise
        finally:
            self.connecting -= 1
        self.connections.append(conn)
        if conn.http1:
            self.http1 = True
        else:
            self.http1 = False
            self.pools.stats.upstream_cx_http2_total += 1
        conn.reserved += 1
        self._wake()
        return conn

    def _wake(self, failure=None):
        changed, self._changed = self._changed, _Signal()
        changed.failure = failure
        changed.event.set()

    def forget(self, conn):
        """``conn`` closed: its place under max_connections is free."""
        if conn in self.connections:
            self.connections.remove(conn)
            self.total -= 1
            self.breakers.connections.release()
            self.stats.upstream_cx_active -= 1
            self.stats.upstream_cx_destroy += 1
            self._wake()

    def close(self):
        for conn in list(self.connections):
            if not conn.requests:
                conn.close()


class _Signal:
    __slots__ = ("event", "failure")

    def __init__(self):
        self.event = Event()
        self.failure = None     # the connect failure that woke the waiters, if that was it
