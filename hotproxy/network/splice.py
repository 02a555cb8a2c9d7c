"""Bytes from one plain socket to another through a pipe with ``splice(2)``: they never enter
Python (no copy into user space, no bytes object).

The TCP proxy's relay (pump.py) and the HTTP/1.1 router's Content-Length bodies
(http/router/spliced_body.py) both move bytes this way. A worker is one thread of greenlets, so
its pipes are pooled per process: a spliced body costs its splices, not the pipe2/fcntl/close
calls of a pipe of its own. A pipe goes back to the pool only empty; one still holding bytes
(its destination failed) is closed.

Sockets are gevent's, non-blocking: a splice that would block (EAGAIN) waits for the socket's
readiness in the hub, as gevent's own recv and send do, so the worker's deadlines still interrupt
it.
"""
from __future__ import annotations

import fcntl
import os
import sys

#: splice(2) is Linux's, in Python from 3.10
AVAILABLE = hasattr(os, "splice")
FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
#: a pipe's default capacity (the TCP proxy's relay asks for its per-connection buffer size)
PIPE_SIZE = 256 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
#: pipes kept per capacity; more than this many splicing at once close theirs when done
_POOL_MAX = 32

_free = {}  # capacity asked for -> [Pipe]
# a forked process (a worker started by the arbiter) must not share its parent's pipes
os.register_at_fork(after_in_child=_free.clear)


class Pipe:
    """A non-blocking pipe and the bytes it holds."""

    __slots__ = ("read_fd", "write_fd", "asked", "size", "held")

    def __init__(self, size):
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.asked = size
        try:
            self.size = fcntl.fcntl(self.write_fd, _F_SETPIPE_SZ, size)
        except OSError:  # over /proc/sys/fs/pipe-max-size: keep the default capacity
            self.size = fcntl.fcntl(self.write_fd, _F_GETPIPE_SZ)
        self.held = 0

    def fill(self, src, src_fd, most):
        """Move up to ``most`` bytes from socket ``src`` into the pipe (waiting until it has
        some); returns how many, 0 at the socket's EOF."""
        while True:
            try:
                moved = os.splice(src_fd, self.write_fd, most, flags=FLAGS)
            except BlockingIOError:
                src._wait(src._read_event)
                continue
            self.held += moved
            return moved

    def drain(self, dst, dst_fd):
        """Move every byte the pipe holds to socket ``dst``, waiting while its buffer is full."""
        while self.held:
            try:
                self.held -= os.splice(self.read_fd, dst_fd, self.held, flags=FLAGS)
            except BlockingIOError:
                dst._wait(dst._write_event)

    def close(self):
        os.close(self.read_fd)
        os.close(self.write_fd)


def plain(sock):
    """Whether splice(2) can move ``sock``'s bytes: not a TLS socket (its bytes are records)."""
    return AVAILABLE and not is_tls(sock)


def is_tls(sock):
    """Whether ``sock`` is a TLS socket. Read from gevent.ssl only once something imported it (TLS
    configured somewhere): a worker without TLS never loads ssl and libcrypto."""
    tls = sys.modules.get("gevent.ssl")
    return tls is not None and isinstance(sock, tls.SSLSocket)


def take(size=PIPE_SIZE):
    """An empty pipe of capacity ``size`` (or the system's most), from the pool if one is free."""
    free = _free.get(size)
    return free.pop() if free else Pipe(size)


def give_back(pipe):
    """Return ``pipe`` after use: pooled if empty, closed if it still holds bytes."""
    free = _free.setdefault(pipe.asked, [])
    if pipe.held or len(free) >= _POOL_MAX:
        pipe.close()
    else:
        free.append(pipe)
