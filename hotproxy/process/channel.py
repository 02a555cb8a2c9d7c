"""The arbiter ⇄ child channel: one msgpack map per SOCK_SEQPACKET message, descriptors attached
to the message that names them (SCM_RIGHTS).

SEQPACKET keeps message boundaries and sends each message atomically, so no framing is needed and a
descriptor always travels with its own message. Sends still take a lock: when the peer is slow and
the socket buffer is full, a send waits, and gevent allows only one greenlet to wait on a socket.
Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC): nothing leaks into later children.

A datagram is bounded by the socket's send buffer (about 200 KiB by default), which a large
config's stats or an xDS update of thousands of endpoints outgrows: a message longer than
``SPILL_BYTES`` travels in a memfd attached to a small stand-in, and comes out of ``recv`` as
itself.
"""
from __future__ import annotations

import array
import os
import socket as _stdsocket
import threading

import msgpack
from gevent import socket
from gevent.lock import Semaphore

MAX_MESSAGE = 1 << 20
MAX_FDS = 64
SPILL_BYTES = 64 * 1024
_SPILLED = "spilled"     # the stand-in's kind: the message is in the last descriptor


def encode(message):
    return msgpack.packb(message, use_bin_type=True)


def decode(data):
    return msgpack.unpackb(data, raw=False)


def socketpair():
    """A connected pair of stdlib SEQPACKET sockets: (parent end, child end). The parent end is
    close-on-exec; the child end is made inheritable by whoever passes it to a child."""
    return _stdsocket.socketpair(_stdsocket.AF_UNIX, _stdsocket.SOCK_SEQPACKET)


class ChannelClosed(Exception):
    pass


class Channel:
    """One end of a channel, on the gevent hub; or, ``blocking``, on plain threads (the xDS
    process, whose gRPC library does not run under gevent)."""

    def __init__(self, sock, blocking=False):
        if blocking:
            self._sending = threading.Lock()
        else:
            if not isinstance(sock, socket.socket):
                sock = socket.socket(fileno=sock.detach())
            self._sending = Semaphore()
        self.sock = sock

    @classmethod
    def from_fd(cls, fd, blocking=False):
        family = _stdsocket.socket if blocking else socket.socket
        return cls(family(_stdsocket.AF_UNIX, _stdsocket.SOCK_SEQPACKET, fileno=fd), blocking)

    def send(self, message, fds=()):
        data = encode(message)
        spilled = None
        if len(data) > SPILL_BYTES:
            spilled = _memfd_with(data)
            data, fds = encode({"t": _SPILLED}), (*fds, spilled)
        try:
            with self._sending:
                if fds:
                    self.sock.sendmsg([data], [(_stdsocket.SOL_SOCKET, _stdsocket.SCM_RIGHTS,
                                                array.array("i", fds))])
                else:
                    self.sock.send(data)
        finally:
            if spilled is not None:
                os.close(spilled)

    def recv(self):
        """The next (message, fds); raises ChannelClosed when the peer is gone."""
        data, ancdata, _flags, _addr = self.sock.recvmsg(
            MAX_MESSAGE, _stdsocket.CMSG_SPACE(MAX_FDS * 4), _stdsocket.MSG_CMSG_CLOEXEC)
        fds = []
        for level, kind, payload in ancdata:
            if level == _stdsocket.SOL_SOCKET and kind == _stdsocket.SCM_RIGHTS:
                fds.extend(array.array("i", payload[:len(payload) - len(payload) % 4]))
        if not data:
            for fd in fds:
                _stdsocket.close(fd)
            raise ChannelClosed()
        message = decode(data)
        if message.get("t") == _SPILLED and fds:
            spilled = fds.pop()
            try:
                message = decode(os.pread(spilled, os.fstat(spilled).st_size, 0))
            finally:
                os.close(spilled)
        return message, fds

    def close(self):
        self.sock.close()


def _memfd_with(data: bytes) -> int:
    fd = os.memfd_create("hotproxy-message", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd
