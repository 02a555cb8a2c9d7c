"""Per-worker, per-host HTTP/1.1 keep-alive connection pool.

The pool bounds the *total* connections to its host (``max_connections``). When all of them are
busy a request waits for the next one released instead of opening another: capping only the idle
ones makes a loaded proxy churn connect/close. At most ``max_pending`` requests may wait; one more
overflows (Envoy's ``upstream_rq_pending_overflow``).

A pooled connection is handed out only while nothing is waiting to be read on it: bytes that
arrive on an idle connection are no answer to anything (an upstream that sent more than its
response), and read as the next request's response they would reach another client. Such a
connection is closed and counted as ``upstream_cx_protocol_error``, as Envoy counts it.

The pool knows nothing of the protocol spoken on its connections: whoever speaks it attaches its
decoder to ``UpstreamConnection.decoder``.
"""
from __future__ import annotations

import select
import socket
import ssl
import time
from collections import deque

from gevent.event import AsyncResult

from .connect import ConnectFailure, connect

#: An idle connection older than this is not reused (the upstream has likely dropped it).
IDLE_EXPIRY_S = 55.0
_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


class UpstreamConnection:
    __slots__ = ("sock", "readable", "decoder", "pool", "reused", "idle_since", "keep_alive", "tls")

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


class ConnectionPool:
    def __init__(self, host, connect_timeout, stats, max_connections=1024, max_pending=1024,
                 options=None):
        self.host = host
        self.transport = host.transport     # transport.py; None for plain text
        self.tls = host.transport.tls if host.transport is not None else None
        self.options = options  # what its requests asked of their connections (connect.py), or None
        self.connect_timeout = connect_timeout
        self.stats = stats
        self.max_connections = max_connections
        self.max_pending = max_pending
        self._idle = []          # LIFO: the most recently used connection is the warmest
        self._waiters = deque()
        self.total = 0
        self.closed = False

    def __repr__(self):
        return (f"<ConnectionPool {self.host.label} [connections: {self.total} total, "
                f"{len(self._idle)} idle | waiting: {len(self._waiters)}]>")

    def acquire(self):
        """A connection ready for one request; raises ``ConnectFailure``."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if time.monotonic() - conn.idle_since < IDLE_EXPIRY_S and self._clean(conn):
                conn.reused = True
                return conn
            self._discard(conn)
        if self.total < self.max_connections:
            return self._connect()
        if len(self._waiters) >= self.max_pending:
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
            elif waiter.successful() and waiter.value is not None:
                self.release(waiter.value, True)
            raise ConnectFailure("connection timeout") from None
        if conn is None:  # a slot was freed: connect for ourselves
            return self._connect()
        if not self._clean(conn):
            self._discard(conn)
            return self._connect()
        conn.reused = True
        return conn

    def acquire_fresh(self):
        """A new connection, for a request whose pooled one turned out to be stale."""
        if self.total >= self.max_connections:
            raise ConnectFailure("overflow")
        return self._connect()

    def release(self, conn, reusable):
        """Give ``conn`` back after a complete exchange; ``reusable`` false closes it."""
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
        sock = conn.sock
        sock.timeout = 0.0
        try:
            data = sock.recv(1)
        except ssl.SSLWantReadError:
            return True
        except OSError:
            return False
        finally:
            sock.timeout = None
        if data:
            self.stats.upstream_cx_protocol_error += 1
        return False

    def _wake_one(self, value):
        if self._waiters and self.total < self.max_connections:
            self._waiters.popleft().set(value)

    def _connect(self):
        self.total += 1
        try:
            sock = connect(self.host, self.stats, self.connect_timeout, self.transport, self.options)
        except ConnectFailure:
            self.total -= 1
            self._wake_one(None)
            raise
        return UpstreamConnection(sock, self, self.tls is not None)

    def _discard(self, conn):
        conn.sock.close()
        self.total -= 1
        self.stats.upstream_cx_active -= 1
        self.stats.upstream_cx_destroy += 1

