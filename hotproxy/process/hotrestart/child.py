"""The previous epoch as a new epoch sees it: the client side of the hot-restart RPC
(docs/hot-restart.md).

``Predecessor.connect`` finds epoch E-1 at its rendezvous name and checks that it speaks our
protocol version. Requests then go one at a time and wait for their reply; pushes from the
predecessor (moved connections, its last counts) go to the callbacks the arbiter gives.
"""
from __future__ import annotations

import errno
import itertools
import logging
import os

import gevent
import msgpack
from gevent.event import AsyncResult

from ..channel import ChannelClosed
from ..messages import (RESTART_CONNECTION, RESTART_FINAL_STATS, RESTART_GET_LISTEN_SOCKET, RESTART_HELLO,
                        RESTART_REFUSED, RESTART_REPLY)
from .version import VERSION
from .wire import HELLO_TIMEOUT_S, HotRestartError

log = logging.getLogger("hotproxy.arbiter")

REQUEST_TIMEOUT_S = 10.0


class Predecessor:
    def __init__(self, channel, name):
        self.channel = channel
        self.name = name
        self.pid = None
        self.gone = False
        self.on_connection = None     # (listener name, fd) → None
        self.on_final_stats = None    # (message) → None
        self.on_gone = None           # () → None
        self._ids = itertools.count(1)
        self._waiting = {}

    @classmethod
    def connect(cls, rendezvous, base_id, epoch):
        """The Predecessor at ``epoch`` of ``rendezvous`` (wire.py), or None when no process
        holds its name (it exited, or never ran: then we start as a first epoch would). Raises
        HotRestartError."""
        name = rendezvous.name(base_id, epoch)
        try:
            channel = rendezvous.connect(base_id, epoch)
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                return None
            raise HotRestartError(f"cannot reach epoch {epoch} at {name}: {exc.strerror}") from None
        predecessor = cls(channel, name)
        gevent.spawn(predecessor._read)
        try:
            reply, _ = predecessor.request({"t": RESTART_HELLO, "version": VERSION}, timeout=HELLO_TIMEOUT_S)
        except HotRestartError as error:
            predecessor.close()
            raise HotRestartError(f"{name} does not answer as a hotproxy epoch: {error}") from None
        if not reply.get("ok"):
            predecessor.close()
            raise HotRestartError(f"epoch {epoch} refused the hot restart: {reply.get('error')}")
        predecessor.pid = reply.get("pid")
        return predecessor

    def request(self, message, timeout=REQUEST_TIMEOUT_S):
        """Send ``message`` and wait for its reply: (reply, fds). Raises HotRestartError."""
        if self.gone:
            raise HotRestartError("the previous epoch has gone")
        request_id = next(self._ids)
        waiter = self._waiting[request_id] = AsyncResult()
        try:
            self.channel.send({**message, "id": request_id})
            return waiter.get(timeout=timeout)
        except gevent.Timeout:
            raise HotRestartError(f"no answer to {message['t']!r} in {timeout:.0f} s") from None
        except OSError as exc:
            raise HotRestartError(f"{message['t']!r} failed: {exc}") from None
        finally:
            self._waiting.pop(request_id, None)

    def listen_socket(self, address, port):
        """The predecessor's listening socket for (address, port) as a descriptor, or None."""
        _reply, fds = self.request({"t": RESTART_GET_LISTEN_SOCKET, "address": [address, port]})
        for extra in fds[1:]:
            os.close(extra)
        return fds[0] if fds else None

    def close(self):
        self.channel.close()

    def _read(self):
        try:
            while True:
                message, fds = self.channel.recv()
                kind = message.get("t")
                if kind == RESTART_REPLY:
                    waiter = self._waiting.get(message.get("id"))
                    if waiter is not None:
                        waiter.set((message, fds))
                        continue
                elif kind == RESTART_REFUSED:
                    raise HotRestartError(message.get("error"))
                elif kind == RESTART_CONNECTION and fds and self.on_connection is not None:
                    self.on_connection(message.get("listener"), fds[0])
                    fds = fds[1:]
                elif kind == RESTART_FINAL_STATS and self.on_final_stats is not None:
                    self.on_final_stats(message)
                for fd in fds:
                    os.close(fd)
        except HotRestartError as error:
            self._fail_waiters(str(error))
        except (ChannelClosed, OSError, ValueError, msgpack.exceptions.ExtraData,
                msgpack.exceptions.UnpackException) as exc:
            self._fail_waiters(f"the connection ended ({exc.__class__.__name__})")
        self.gone = True
        if self.on_gone is not None:
            self.on_gone()

    def _fail_waiters(self, reason):
        for waiter in self._waiting.values():
            waiter.set_exception(HotRestartError(reason))
