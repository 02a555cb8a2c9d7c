"""Bidirectional byte relay between two connected TCP sockets (gevent).

Where both ends are plain TCP, bytes move with ``splice(2)`` through a pipe and never enter
Python; elsewhere (a socket type splice refuses) they fall back to recv/send. Each direction runs
in its own greenlet; an EOF from one side becomes a half-close (SHUT_WR) of the other, so
protocols that half-close keep working. The idle timeout covers both directions together.
"""
from __future__ import annotations

import fcntl
import os
import socket as _stdsocket
import time

import gevent

from ..sockio import send_all

_CHUNK = 256 * 1024
_F_SETPIPE_SZ = 1031
_YIELD_EVERY = 4 << 20
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


class Relay:
    """Relays until both directions reached EOF, an error, or the idle timeout."""

    def __init__(self, downstream, upstream, idle_timeout=None):
        self.downstream = downstream
        self.upstream = upstream
        self.idle_timeout = idle_timeout or None
        self.last_activity = time.monotonic()
        self.bytes_up = 0      # downstream → upstream
        self.bytes_down = 0    # upstream → downstream
        self.timed_out = False

    def run(self):
        up = gevent.spawn(self._direction, self.downstream, self.upstream, "bytes_up")
        try:
            self._direction(self.upstream, self.downstream, "bytes_down")
            up.join()
        finally:
            up.kill()

    def _direction(self, src, dst, counter):
        try:
            if hasattr(os, "splice"):
                self._splice(src, dst, counter)
            else:
                self._copy(src, dst, counter)
            _half_close(dst)
        except _IdleTimeout:
            self.timed_out = True
            self._close_both()
        except OSError:
            self._close_both()

    def _close_both(self):
        for sock in (self.downstream, self.upstream):
            try:
                sock.shutdown(_stdsocket.SHUT_RDWR)
            except OSError:
                pass

    def _wait(self, sock, event):
        """Wait for ``event`` on ``sock``, ending the relay once both sides were idle too long."""
        while True:
            sock.timeout = self.idle_timeout
            try:
                sock._wait(event)
                return
            except _stdsocket.timeout:
                if time.monotonic() - self.last_activity >= self.idle_timeout:
                    raise _IdleTimeout() from None

    def _splice(self, src, dst, counter):
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            try:
                fcntl.fcntl(write_fd, _F_SETPIPE_SZ, _CHUNK)
            except OSError:
                pass  # keep the default pipe size
            src_fd, dst_fd = src.fileno(), dst.fileno()
            since_yield = 0
            while True:
                try:
                    n = os.splice(src_fd, write_fd, _CHUNK, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    self._wait(src, src._read_event)
                    continue
                if n == 0:
                    return
                self.last_activity = time.monotonic()
                setattr(self, counter, getattr(self, counter) + n)
                since_yield += n
                while n:
                    try:
                        n -= os.splice(read_fd, dst_fd, n, flags=_SPLICE_FLAGS)
                    except BlockingIOError:
                        self._wait(dst, dst._write_event)
                if since_yield >= _YIELD_EVERY:
                    since_yield = 0
                    gevent.sleep(0)
        finally:
            os.close(read_fd)
            os.close(write_fd)

    def _copy(self, src, dst, counter):
        while True:
            self._wait(src, src._read_event)
            data = src.recv(_CHUNK)
            if not data:
                return
            self.last_activity = time.monotonic()
            setattr(self, counter, getattr(self, counter) + len(data))
            dst.timeout = self.idle_timeout
            send_all(dst, data)


class _IdleTimeout(Exception):
    pass


def _half_close(sock):
    try:
        sock.shutdown(_stdsocket.SHUT_WR)
    except OSError:
        pass
