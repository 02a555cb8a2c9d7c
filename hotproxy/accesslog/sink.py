"""Worker side of access logging: formatted lines go to the flusher without ever blocking.

Lines wait in a per-worker buffer and leave in batches (one datagram per batch) on a non-blocking
send. When the flusher is slow or restarting, the kernel's socket buffer fills and sends fail with
EAGAIN: lines then keep waiting here, up to ``max_pending_bytes``; beyond that new lines are
dropped and counted (``access_log.dropped``), never lost silently.
"""
from __future__ import annotations

import socket as _stdsocket

import gevent

from ..stats.schema import AccessLogStats
from .batch import encode_batch

MAX_DATAGRAM = 60 * 1024


class AccessLogSink:
    def __init__(self, sock, flush_interval=0.1, max_pending_bytes=8 << 20):
        self.sock = sock                 # stdlib SOCK_DGRAM socket shared with the flusher
        self.sock.setblocking(False)
        self.flush_interval = flush_interval
        self.max_pending_bytes = max_pending_bytes
        self.pending = []                # (destination, line) in arrival order
        self.pending_bytes = 0
        self.stats = AccessLogStats()    # access_log.dropped
        self.written = 0
        self._flusher = None

    def log(self, destination, line):
        """Queue ``line`` (bytes, newline included) for ``destination`` (a path, "stdout", "stderr")."""
        if self.pending_bytes + len(line) > self.max_pending_bytes:
            self.stats.dropped += 1
            return
        self.pending.append((destination, line))
        self.pending_bytes += len(line)
        if self._flusher is None:
            self._flusher = gevent.spawn_later(self.flush_interval, self._flush_later)

    def _flush_later(self):
        self._flusher = None
        self.flush()
        if self.pending:  # the flusher is behind: try again later
            self._flusher = gevent.spawn_later(self.flush_interval, self._flush_later)

    def flush(self):
        """Send as much as the socket takes now."""
        while self.pending:
            count, datagram = encode_batch(self.pending, MAX_DATAGRAM)
            try:
                self.sock.send(datagram)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # no flusher at all: lines wait, then drop as counted
            sent = self.pending[:count]
            del self.pending[:count]
            self.pending_bytes -= sum(len(line) for _dest, line in sent)
            self.written += count


def sink_socketpair():
    """(flusher end, worker end): datagrams, so that any number of workers share the worker end."""
    return _stdsocket.socketpair(_stdsocket.AF_UNIX, _stdsocket.SOCK_DGRAM)
