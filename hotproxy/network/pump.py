"""Bidirectional byte relay between two connected TCP sockets (gevent).

Where both ends are plain TCP, bytes move with ``splice(2)`` through a pipe and never enter
Python; elsewhere (a socket type splice refuses) they fall back to recv/send. Each direction runs
in its own greenlet; an EOF from one side becomes a half-close (SHUT_WR) of the other, so
protocols that half-close keep working (over plain TCP: a TLS side ends the relay instead). The idle timeout covers both directions together and is
enforced by the worker's ``Deadlines`` (no timer per wait).
"""
from __future__ import annotations

import fcntl
import os
import socket as _stdsocket
import time

import gevent
from gevent.ssl import SSLSocket

from ..deadlines import NEVER
from ..sockio import send_all

CHUNK = 256 * 1024
_F_SETPIPE_SZ = 1031
_YIELD_EVERY = 4 << 20
#: splice(2) moves bytes between plain sockets only: a TLS socket's bytes are records
_SPLICE = hasattr(os, "splice")
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


class Relay:
    """Relays until both directions reached EOF, an error, or the idle timeout."""

    def __init__(self, downstream, upstream, deadlines, idle_timeout=None, chunk=CHUNK):
        self.downstream = downstream
        self.chunk = chunk
        self.upstream = upstream
        self.deadlines = deadlines
        self.idle_timeout = idle_timeout or None
        self.deadline = NEVER
        self._touch()
        self.bytes_up = 0      # downstream → upstream
        self.bytes_down = 0    # upstream → downstream
        self.timed_out = False

    def _touch(self):
        if self.idle_timeout:
            self.deadline = time.monotonic() + self.idle_timeout

    def expire(self):
        """Both directions were idle for ``idle_timeout``: end the relay."""
        self.deadline = NEVER
        self.timed_out = True
        self._close_both()

    def run(self):
        self.deadlines.watch(self)
        up = gevent.spawn(self._direction, self.downstream, self.upstream, "bytes_up")
        try:
            self._direction(self.upstream, self.downstream, "bytes_down")
            up.join()
        finally:
            self.deadlines.unwatch(self)
            up.kill()

    def _direction(self, src, dst, counter):
        try:
            if _SPLICE and not isinstance(src, SSLSocket) and not isinstance(dst, SSLSocket):
                self._splice(src, dst, counter)
            else:
                self._copy(src, dst, counter)
            if isinstance(dst, SSLSocket):
                # Python tears a TLS session down with its write side: no half-close over TLS
                self._close_both()
            else:
                _half_close(dst)
        except OSError:
            self._close_both()

    def _close_both(self):
        for sock in (self.downstream, self.upstream):
            # the TCP socket under a TLS one: SSLSocket.shutdown would drop its TLS state first,
            # and a read still under way would then take records for plain bytes
            raw = sock._sock if isinstance(sock, SSLSocket) else sock
            try:
                raw.shutdown(_stdsocket.SHUT_RDWR)
            except OSError:
                pass

    def _splice(self, src, dst, counter):
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            try:
                fcntl.fcntl(write_fd, _F_SETPIPE_SZ, self.chunk)
            except OSError:
                pass  # keep the default pipe size
            src_fd, dst_fd = src.fileno(), dst.fileno()
            since_yield = 0
            while True:
                try:
                    n = os.splice(src_fd, write_fd, self.chunk, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    src._wait(src._read_event)
                    continue
                if n == 0:
                    return
                self._touch()
                setattr(self, counter, getattr(self, counter) + n)
                since_yield += n
                while n:
                    try:
                        n -= os.splice(read_fd, dst_fd, n, flags=_SPLICE_FLAGS)
                    except BlockingIOError:
                        dst._wait(dst._write_event)
                if since_yield >= _YIELD_EVERY:
                    since_yield = 0
                    gevent.sleep(0)
        finally:
            os.close(read_fd)
            os.close(write_fd)

    def _copy(self, src, dst, counter):
        while True:
            data = src.recv(self.chunk)
            if not data:
                return
            self._touch()
            setattr(self, counter, getattr(self, counter) + len(data))
            send_all(dst, data)


def _half_close(sock):
    try:
        sock.shutdown(_stdsocket.SHUT_WR)
    except OSError:
        pass
