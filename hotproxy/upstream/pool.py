"""Per-worker, per-host HTTP/1.1 keep-alive connection pool.

The cluster's circuit breakers (circuit_breaker.py, counted across every worker) bound what the
pools of all its hosts open together, as Envoy's do:

- ``max_requests`` (counted only when the cluster configures circuit_breakers): a request
  arriving while the cluster has that many is refused at once
  (``upstream_rq_active_overflow``); a request holds its place from ``acquire`` (connecting
  and waiting included: Envoy counts it from when it gets a connection) until ``release``.
- ``max_connections``: beyond it a pool opens no connection (``upstream_cx_overflow``) and the
  request waits for one of the pool's own to be released, instead of churning connect/close.
  A pool that has no connection at all opens one regardless, as Envoy's does, so that a waiting
  request cannot be stranded behind other hosts' connections.
- ``max_pending_requests``: how many requests may wait; one more overflows
  (``upstream_rq_pending_overflow``).

A pooled connection is handed out only while nothing is waiting to be read on it: bytes that
arrive on an idle connection are no answer to anything (an upstream that sent more than its
response), and read as the next request's response they would reach another client. Such a
connection is closed and counted as ``upstream_cx_protocol_error``, as Envoy counts it.

The pool knows nothing of the protocol spoken on its connections: whoever speaks it attaches its
decoder to ``UpstreamConnection.decoder``.

A cluster's idle_timeout, max_requests_per_connection and max_connection_duration
(connection_limits.py) retire connections when they are released, and close idle ones when they
are due; without them, a connection idle longer than hotproxy's own expiry is just not handed out
again.
"""
from __future__ import annotations

import select
import socket
import math
import time
from collections import deque

import gevent
from gevent.event import AsyncResult

from .connect import ConnectFailure, connect
from .connection_limits import idle_deadline, idle_expiry, retirement

_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


class UpstreamConnection:
    __slots__ = ("sock", "readable", "decoder", "pool", "reused", "idle_since", "keep_alive", "tls",
                 "holds_request", "served", "born")

    def __init__(self, sock, pool, tls=False):
        self.sock = sock
        # ``readable(0)`` polls this socket alone, without blocking: a poll object of its own
        # costs a sixth of an ioctl(FIONREAD) call per reuse (bench/callgrind_path.py)
        watcher = select.poll()
        watcher.register(sock.fileno(), select.POLLIN)
        self.readable = watcher.poll
        self.decoder = None
        self.pool = pool
        self.reused = False
        self.idle_since = 0.0
        self.keep_alive = False
        self.tls = tls
        self.holds_request = False   # a place under the cluster's max_requests
        self.served = 0              # requests carried (counted with connection limits only)
        self.born = 0.0              # when it was opened (stamped with connection limits only)


class ConnectionPool:
    def __init__(self, host, connect_timeout, stats, breakers, overflow_stats, options=None, bind=None,
                 limits=None):
        """``breakers``: the cluster's CircuitBreakers; ``overflow_stats`` counts
        upstream_cx_overflow and upstream_rq_active_overflow (stats/breakers.py); ``bind``:
        the cluster's upstream_bind_config, or None; ``limits``: its ConnectionLimits, or None."""
        self.host = host
        self.transport = host.transport     # transport.py; None for plain text
        self.tls = host.transport.tls if host.transport is not None else None
        self.options = options  # what its requests asked of their connections (connect.py), or None
        self.connect_timeout = connect_timeout
        self.bind = bind
        self.stats = stats
        self.breakers = breakers
        self._requests = breakers.requests
        self._connections = breakers.connections
        self.overflow_stats = overflow_stats
        if self._requests is None:      # max_requests not counted: no layer on the request path
            self.acquire = self._acquire
            self.acquire_fresh = self._acquire_fresh
        self.limits = limits
        self.idle_expiry = idle_expiry(limits)
        if limits is not None:
            self.release = self._release_limited
            self._sweeper = None     # the greenlet that closes idle connections when due
            self._sweep_at = math.inf
        self._idle = []          # LIFO: the most recently used connection is the warmest
        self._waiters = deque()
        self.total = 0
        self.closed = False

    def __repr__(self):
        return (f"<ConnectionPool {self.host.label} [connections: {self.total} total, "
                f"{len(self._idle)} idle | waiting: {len(self._waiters)}]>")

    def acquire(self):
        """A connection ready for one request, holding its place under max_requests until
        ``release``; raises ``ConnectFailure``."""
        return self._holding_request(self._acquire)

    def acquire_fresh(self):
        """A new connection, for a request whose pooled one turned out to be stale."""
        return self._holding_request(self._acquire_fresh)

    def _holding_request(self, acquire):
        requests = self._requests
        if not requests.try_acquire():
            self.overflow_stats.upstream_rq_active_overflow += 1
            raise ConnectFailure("overflow")
        try:
            conn = acquire()
        except BaseException:
            requests.release()
            raise
        conn.holds_request = True
        return conn

    def _acquire(self):
        idle = self._idle
        while idle:
            conn = idle.pop()
            if time.monotonic() - conn.idle_since < self.idle_expiry and self._clean(conn):
                conn.reused = True
                return conn
            if self.limits is not None:
                self._count_expired(conn)
            self._discard(conn)
        if self._may_connect():
            return self._connect()
        pending = self.breakers.pending
        if not pending.try_acquire():
            self.stats.upstream_rq_pending_overflow += 1
            raise ConnectFailure("overflow")
        self.stats.upstream_rq_pending_total += 1
        waiter = AsyncResult()
        self._waiters.append(waiter)
        try:
            conn = waiter.get(timeout=self.connect_timeout)
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.successful():
                if waiter.value is not None:
                    self.release(waiter.value, True)
                else:
                    self._connections.release()     # the place taken for us by _wake_one
            raise ConnectFailure("connection timeout") from None
        finally:
            pending.release()
        if conn is None:  # a place was freed: connect for ourselves
            return self._connect()
        if not self._clean(conn):
            self._discard(conn)
            self._connections.add()     # the place it held is this request's new connection's
            return self._connect()
        conn.reused = True
        return conn

    def _acquire_fresh(self):
        if not self._may_connect():
            raise ConnectFailure("overflow")
        return self._connect()

    def _may_connect(self):
        """Whether a connection may be opened now (then its place is taken)."""
        if self._connections.try_acquire():
            return True
        self.overflow_stats.upstream_cx_overflow += 1
        if self.total == 0:       # Envoy's pool opens its first connection regardless
            self._connections.add()
            return True
        return False

    def release(self, conn, reusable):
        """Give ``conn`` back after a complete exchange; ``reusable`` false closes it."""
        if conn.holds_request:
            conn.holds_request = False
            self._requests.release()
        if not reusable or self.closed:
            self._discard(conn)
            self._wake_one(None)
            return
        if conn.tls and not conn.reused:
            # its first exchange is done: a TLS 1.3 server has sent its tickets
            self.tls.remember(conn.sock, self.host.hostname, self.options)
        if self._waiters:
            self._waiters.popleft().set(conn)
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def close(self):
        """Close idle connections; busy ones close when released (the host left the cluster)."""
        self.closed = True
        while self._idle:
            self._discard(self._idle.pop())
        if self.limits is not None and self._sweeper is not None:
            self._sweeper.kill(block=False)
            self._sweeper = None

    # --- connection limits (connection_limits.py), only when the cluster sets them -------------

    def _release_limited(self, conn, reusable):
        if reusable and not self.closed:
            conn.served += 1
            stat = retirement(self.limits, conn.served, conn.born, time.monotonic())
            if stat is not None:
                setattr(self.stats, stat, getattr(self.stats, stat) + 1)
                reusable = False
        ConnectionPool.release(self, conn, reusable)
        if reusable and self._idle and self._idle[-1] is conn:
            self._watch_idle(conn)

    def _watch_idle(self, conn):
        """Have ``conn`` closed when its idle time or its age runs out."""
        due = idle_deadline(self.limits, conn, self.idle_expiry)[0]
        if due == math.inf or due >= self._sweep_at:
            return
        if self._sweeper is not None:
            self._sweeper.kill(block=False)
        self._sweep_at = due
        self._sweeper = gevent.spawn_later(max(0.0, due - time.monotonic()), self._sweep)

    def _sweep(self):
        self._sweeper = None
        self._sweep_at = math.inf
        now = time.monotonic()
        for conn in list(self._idle):
            due, stat = idle_deadline(self.limits, conn, self.idle_expiry)
            if due <= now:
                self._idle.remove(conn)
                if stat is not None:
                    setattr(self.stats, stat, getattr(self.stats, stat) + 1)
                self._discard(conn)
            else:
                self._watch_idle(conn)

    def _count_expired(self, conn):
        """An idle connection found past its time when taken."""
        stat = idle_deadline(self.limits, conn, self.idle_expiry)[1]
        if stat is not None and time.monotonic() - conn.idle_since >= self.idle_expiry:
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)

    def _clean(self, conn):
        """True when nothing arrived on ``conn`` since its last response ended. Bytes are an
        upstream's excess (counted); an end of stream or an error is a connection the upstream
        closed (not counted: the pool just does not hand it out)."""
        if not conn.readable(0):
            return True
        if conn.tls:
            return self._clean_tls(conn)
        try:
            if conn.sock.recv(1, _PEEK):
                self.stats.upstream_cx_protocol_error += 1
        except OSError:
            pass
        return False

    def _clean_tls(self, conn):
        """A readable TLS connection may carry records that are no data: session tickets sent
        after the handshake. Only application bytes, or the end, make it unusable."""
        from ssl import SSLWantReadError  # loaded with the connection's TLS; not before
        sock = conn.sock
        sock.timeout = 0.0
        try:
            data = sock.recv(1)
        except SSLWantReadError:
            return True
        except OSError:
            return False
        finally:
            sock.timeout = None
        if data:
            self.stats.upstream_cx_protocol_error += 1
        return False

    def _wake_one(self, value):
        """A connection of this pool closed: a waiting request may open one in its place."""
        if self._waiters and self._connections.try_acquire():
            self._waiters.popleft().set(value)
            return True
        return False

    def _connect(self):
        """Open a connection whose place under max_connections is taken already."""
        self.total += 1
        try:
            sock = connect(self.host, self.stats, self.connect_timeout, self.transport, self.options,
                           self.bind)
        except ConnectFailure:
            self.total -= 1
            self._connections.release()
            self._wake_one(None)
            raise
        conn = UpstreamConnection(sock, self, self.tls is not None)
        if self.limits is not None:
            conn.born = time.monotonic()
        return conn

    def _discard(self, conn):
        conn.sock.close()
        self.total -= 1
        self._connections.release()
        self.stats.upstream_cx_active -= 1
        self.stats.upstream_cx_destroy += 1

