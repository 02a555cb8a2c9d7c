"""Where two epochs meet: the Unix SOCK_SEQPACKET socket ``<socket-path>.<base-id>.<epoch>``, on
which epoch E serves the hot-restart RPC for epoch E+1 (docs/hot-restart.md).

The default ``--socket-path @hotproxy`` names abstract sockets (``@hotproxy.0.1``): a name lives
as long as the socket that holds it and goes with its process, so no file is ever left behind,
and needs neither /dev/shm nor a writable directory. Another ``--socket-path`` names files,
created with ``--socket-mode``; a file left by an epoch that died (nobody accepts on it) is
replaced, and an epoch removes its own when it closes. Messages are process/channel.py's:
msgpack maps, descriptors attached with SCM_RIGHTS, received close-on-exec.
"""
from __future__ import annotations

import errno
import os
import random
import socket as _stdsocket
import stat

from gevent import socket

from ..channel import Channel

HELLO_TIMEOUT_S = 5.0
DYNAMIC_BASE_ID_ATTEMPTS = 32


class HotRestartError(Exception):
    """A hot restart cannot happen: the rendezvous is taken or unusable, or the predecessor
    refused us or is not a hotproxy epoch at all."""


class RendezvousInUse(HotRestartError):
    pass


class Rendezvous:
    def __init__(self, socket_path: str, socket_mode: int):
        """``socket_path`` and ``socket_mode`` as --socket-path and --socket-mode give them."""
        self.socket_path = socket_path
        self.socket_mode = socket_mode

    @property
    def abstract(self) -> bool:
        return self.socket_path.startswith("@")

    def name(self, base_id: int, epoch: int) -> str:
        """As an operator reads it: ``@hotproxy.0.1`` or a path."""
        return f"{self.socket_path}.{base_id}.{epoch}"

    def _address(self, base_id: int, epoch: int) -> str:
        name = self.name(base_id, epoch)
        return "\0" + name[1:] if self.abstract else name

    def listen(self, base_id: int, epoch: int) -> Listening:
        """``epoch``'s RPC server socket. Raises RendezvousInUse when another process holds
        it, HotRestartError when it cannot be made."""
        name, address = self.name(base_id, epoch), self._address(base_id, epoch)
        sock = _seqpacket()
        try:
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or not self._stale(address):
                    raise
                os.unlink(address)
                sock.bind(address)
            if not self.abstract:
                os.chmod(address, self.socket_mode)
            sock.listen(4)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise RendezvousInUse(
                    f"the hot restart socket {name} is in use: another hotproxy runs epoch {epoch} "
                    f"with --base-id {base_id} on this host. Give each instance its own --base-id "
                    "(or --use-dynamic-base-id), or start this one with --disable-hot-restart") from None
            raise HotRestartError(f"cannot create the hot restart socket {name}: "
                                  f"{exc.strerror or exc} (see --socket-path)") from None
        return Listening(sock, name, None if self.abstract else os.stat(address))

    def listen_dynamic(self, epoch: int) -> tuple[Listening, int]:
        """--use-dynamic-base-id: the socket of a base id no running instance uses, and that id."""
        for _ in range(DYNAMIC_BASE_ID_ATTEMPTS):
            base_id = random.randrange(1, 1 << 31)
            try:
                return self.listen(base_id, epoch), base_id
            except RendezvousInUse:
                continue
        raise HotRestartError(f"no free base id found in {DYNAMIC_BASE_ID_ATTEMPTS} attempts")

    def connect(self, base_id: int, epoch: int) -> Channel:
        """A Channel to ``epoch``'s RPC server. Raises OSError (ECONNREFUSED or ENOENT: nobody
        there)."""
        sock = _seqpacket()
        try:
            sock.connect(self._address(base_id, epoch))
        except OSError:
            sock.close()
            raise
        return Channel(sock)

    def _stale(self, path: str) -> bool:
        """A socket file nobody accepts on: what an epoch that died leaves behind."""
        if self.abstract:
            return False
        try:
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                return False
        except OSError:
            return False
        probe = _stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_SEQPACKET)
        probe.settimeout(1.0)   # a live epoch with a full backlog is still live
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        finally:
            probe.close()
        return False


class Listening:
    """A bound rendezvous socket; ``close`` also removes its file, while it is still ours."""

    def __init__(self, sock, name: str, file_stat: os.stat_result | None):
        self.sock = sock
        self.name = name
        self._file_stat = file_stat

    def close(self) -> None:
        self.sock.close()
        if self._file_stat is None:
            return
        try:
            now = os.stat(self.name)
            if (now.st_dev, now.st_ino) == (self._file_stat.st_dev, self._file_stat.st_ino):
                os.unlink(self.name)
        except OSError:
            pass
        self._file_stat = None


def _seqpacket():
    return socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_SEQPACKET | _stdsocket.SOCK_CLOEXEC)
