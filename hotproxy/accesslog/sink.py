"""Worker side of access logging: formatted lines go to the flusher without ever blocking.

Lines wait in a per-worker buffer and leave in batches (one datagram per batch) on a non-blocking
send: every ``flush_interval``, or as soon as the next line would take them past one datagram
(a busy worker then sends a datagram a few hundred lines long at a time, instead of regrouping
thousands of lines into several every interval, a millisecond of stall each time). When the
flusher is slow or restarting, the kernel's socket buffer fills and sends fail with EAGAIN: lines
then keep waiting here, up to ``max_pending_bytes``, and leave every ``flush_interval``; beyond
that new lines are dropped and counted (``access_log.dropped``), never lost silently.
"""
from __future__ import annotations

import socket as _stdsocket

import gevent

from ..stats.schema import AccessLogStats
from .batch import encode_batch, encode_groups

MAX_DATAGRAM = 60 * 1024


class AccessLogSink:
    def __init__(self, sock, flush_interval=0.1, max_pending_bytes=8 << 20):
        self.sock = sock                 # stdlib SOCK_DGRAM socket shared with the flusher
        self.sock.setblocking(False)
        self.flush_interval = flush_interval
        self.max_pending_bytes = max_pending_bytes
        self.pending = []                # (destination, [line, …]): consecutive lines for one
        self.pending_bytes = 0           # destination, in arrival order
        self.stats = AccessLogStats()    # access_log.dropped
        self.written = 0
        self._flusher = None
        self._destination = None         # the last group's, whose lines a line joins
        self._lines = None
        self._blocked = False            # the last send found the socket full (EAGAIN)

    def log(self, destination, line):
        """Queue ``line`` (bytes, newline included) for ``destination`` (a path, "stdout", "stderr")."""
        self.logger(destination, _as_is)(line)

    def logger(self, destination, format_line):
        """``log(info)``: queue ``format_line(info)`` for ``destination``, in one call (a line
        that would take the pending bytes past ``max_pending_bytes`` is dropped and counted)."""
        room = min(MAX_DATAGRAM, self.max_pending_bytes)

        def log(info):
            line = format_line(info)
            size = len(line)
            if self.pending_bytes + size > room and not self._make_room(size):
                return
            self.pending_bytes += size
            if destination == self._destination:
                self._lines.append(line)
            else:
                self._destination, self._lines = destination, [line]
                self.pending.append((destination, self._lines))
            if self._flusher is None:
                self._flusher = gevent.spawn_later(self.flush_interval, self._flush_later)
        return log

    def _make_room(self, size):
        """A line of ``size`` bytes would take the pending lines past one datagram (or the
        pending limit): send them now, while they fit in one, unless the socket was full last
        time. False when the line must be dropped (counted)."""
        if self.pending and not self._blocked and self.pending_bytes + size > MAX_DATAGRAM:
            self.flush()
        if self.pending_bytes + size > self.max_pending_bytes:
            self.stats.dropped += 1
            return False
        return True

    def _flush_later(self):
        self._flusher = None
        self.flush()
        if self.pending:  # the flusher is behind: try again later
            self._flusher = gevent.spawn_later(self.flush_interval, self._flush_later)

    def flush(self):
        """Send as much as the socket takes now: one datagram when the lines fit in one (the
        usual case), else a datagram at a time, each of as many lines as fit."""
        while self.pending:
            everything = self.pending_bytes <= MAX_DATAGRAM
            if everything:
                datagram = encode_groups(self.pending)
            else:
                lines = [(destination, line) for destination, group in self.pending for line in group]
                count, datagram = encode_batch(lines, MAX_DATAGRAM)
            try:
                self.sock.send(datagram)
            except (BlockingIOError, InterruptedError):
                self._blocked = True
                return
            except OSError:
                self._blocked = True
                return  # no flusher at all: lines wait, then drop as counted
            self._blocked = False
            if everything:
                self.written += sum(len(group) for _destination, group in self.pending)
                self.pending, self.pending_bytes = [], 0
                self._destination = self._lines = None
            else:
                self._requeue(lines[count:])
                self.written += count

    def _requeue(self, lines):
        """``lines`` ((destination, line) pairs) become what is pending, regrouped."""
        self.pending, self.pending_bytes = [], 0
        self._destination = self._lines = None
        for destination, line in lines:
            self.pending_bytes += len(line)
            if destination == self._destination:
                self._lines.append(line)
            else:
                self._destination, self._lines = destination, [line]
                self.pending.append((destination, self._lines))


def sink_socketpair():
    """(flusher end, worker end): datagrams, so that any number of workers share the worker end."""
    return _stdsocket.socketpair(_stdsocket.AF_UNIX, _stdsocket.SOCK_DGRAM)


def _as_is(line):
    return line
