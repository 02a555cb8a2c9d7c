"""Where two epochs meet: the abstract Unix SOCK_SEQPACKET socket ``@hotproxy.<base-id>.<epoch>``,
on which epoch E serves the hot-restart RPC for epoch E+1 (docs/hot-restart.md).

Abstract names live as long as the socket that holds them and are gone with its process, so no
file is ever left behind, and they need neither /dev/shm nor a writable directory: a container
with nothing shared can hot-restart. Messages are process/channel.py's: msgpack maps, descriptors
attached with SCM_RIGHTS, received close-on-exec.
"""
from __future__ import annotations

import socket as _stdsocket

from gevent import socket

from ..channel import Channel

HELLO_TIMEOUT_S = 5.0


def rendezvous_name(base_id, epoch):
    return f"\0hotproxy.{base_id}.{epoch}"


def printable(name):
    return "@" + name[1:]


def listen(base_id, epoch):
    """The listening socket of ``epoch``'s RPC server. Raises OSError (EADDRINUSE: another
    hotproxy with this base id runs this epoch)."""
    sock = socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_SEQPACKET | _stdsocket.SOCK_CLOEXEC)
    try:
        sock.bind(rendezvous_name(base_id, epoch))
        sock.listen(4)
    except OSError:
        sock.close()
        raise
    return sock


def connect(base_id, epoch):
    """A Channel to ``epoch``'s RPC server. Raises OSError (ECONNREFUSED: nobody there)."""
    sock = socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_SEQPACKET | _stdsocket.SOCK_CLOEXEC)
    try:
        sock.connect(rendezvous_name(base_id, epoch))
    except OSError:
        sock.close()
        raise
    return Channel(sock)
