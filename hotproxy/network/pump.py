"""Bidirectional byte relay between two connected TCP sockets (gevent).

Where both ends are plain TCP, bytes move with ``splice(2)`` through a pipe and never enter
Python; elsewhere (a socket type splice refuses) they fall back to recv/send. Each direction runs
in its own greenlet; an EOF from one side becomes a half-close (SHUT_WR) of the other, so
protocols that half-close keep working (over plain TCP: a TLS side ends the relay instead). The idle timeout covers both directions together and is
enforced by the worker's ``Deadlines`` (no timer per wait).
"""
from __future__ import annotations

import socket as _stdsocket
import time

import gevent

from ..deadlines import NEVER
from ..sockio import send_all
from . import splice

CHUNK = splice.PIPE_SIZE
_YIELD_EVERY = 4 << 20


class Relay:
    """Relays until both directions reached EOF, an error, or the idle timeout."""

    # Its deadline only ever moves later (each piece relayed pushes the idle timeout on), so the
    # deadline sweep may park it at any time and it never needs unparking (hotproxy/deadlines.py).
    idle = True
    parked = False

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
            if splice.plain(src) and splice.plain(dst):
                self._splice(src, dst, counter)
            else:
                self._copy(src, dst, counter)
            if splice.is_tls(dst):
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
            raw = sock._sock if splice.is_tls(sock) else sock
            try:
                raw.shutdown(_stdsocket.SHUT_RDWR)
            except OSError:
                pass

    def _splice(self, src, dst, counter):
        pipe = splice.take(self.chunk)
        try:
            src_fd, dst_fd = src.fileno(), dst.fileno()
            most = pipe.size
            since_yield = 0
            while True:
                moved = pipe.fill(src, src_fd, most)
                if moved == 0:
                    return
                self._touch()
                setattr(self, counter, getattr(self, counter) + moved)
                since_yield += moved
                pipe.drain(dst, dst_fd)
                if since_yield >= _YIELD_EVERY:
                    since_yield = 0
                    gevent.sleep(0)
        finally:
            splice.give_back(pipe)

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
