"""The hot-restart RPC server an epoch runs for its successor (docs/hot-restart.md).

Requests carry an ``id`` that the reply repeats. Until the successor asks for ``drain`` nothing
here changes how this epoch serves: lending sockets and reading stats are side-effect free, and if
the successor goes away after ``shutdown_admin`` the admin server comes back. After ``drain``
this epoch winds down as a draining generation does, passes its idle keep-alive connections to
the successor (``connection`` pushes) and sends its last counts before it exits.
"""
from __future__ import annotations

import logging
import os

import gevent
import msgpack

from ..channel import Channel, ChannelClosed
from ..messages import (RESTART_CONFIG_INVENTORY, RESTART_CONNECTION, RESTART_DRAIN, RESTART_FINAL_STATS, RESTART_GET_LISTEN_SOCKET,
                        RESTART_HEALTH, RESTART_HELLO, RESTART_REFUSED, RESTART_REPLY, RESTART_SHUTDOWN_ADMIN,
                        RESTART_STATS, RESTART_TERMINATE)
from .version import VERSION

log = logging.getLogger("hotproxy.arbiter")


class RestartServer:
    def __init__(self, owner, listening):
        """``owner``: this epoch's HotRestart (epochs.py), which answers for it: ``epoch``,
        ``listen_socket``, ``lend_admin``, ``export_stats``, ``export_health``, ``hand_over``,
        ``terminate``, ``successor_gone``. ``listening``: our bound rendezvous (wire.py), or None
        with --disable-hot-restart, when no successor can find us."""
        self.owner = owner
        self.listening = listening
        self.successor = None        # the Channel of the epoch being started, one at a time
        self.handed_over = False     # the successor asked us to drain: it serves now
        self.serving = False         # until then a successor is told we are still starting
        if listening is not None:
            gevent.spawn(self._accept)

    def start(self):
        """We serve: a successor may now take over."""
        self.serving = True

    def close(self):
        if self.listening is not None:
            self.listening.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listening.sock.accept()
            except OSError:
                return
            channel = Channel(conn)
            reason = None
            if not self.serving:
                reason = f"epoch {self.owner.epoch} is still starting"
            elif self.handed_over:
                reason = f"epoch {self.owner.epoch} has already handed over"
            elif self.successor is not None:
                reason = "a hot restart of this epoch is already in progress"
            if reason is not None:
                log.warning("hot restart refused: %s", reason)
                try:
                    channel.send({"t": RESTART_REFUSED, "error": reason})
                except OSError:
                    pass
                channel.close()
                continue
            self.successor = channel
            gevent.spawn(self._serve, channel)

    def _serve(self, channel):
        try:
            while True:
                message, fds = channel.recv()
                for fd in fds:
                    os.close(fd)
                self._handle(channel, message)
        except (ChannelClosed, OSError, ValueError, msgpack.exceptions.ExtraData,
                msgpack.exceptions.UnpackException):
            pass
        finally:
            channel.close()
            self.successor = None
            if not self.handed_over:
                log.warning("the new epoch went away before taking over: this epoch serves on")
                self.owner.successor_gone()

    def _handle(self, channel, message):
        kind = message.get("t")
        reply = {"t": RESTART_REPLY, "id": message.get("id")}
        fds = []
        if kind == RESTART_HELLO:
            if message.get("version") != VERSION:
                reply.update(ok=False, error=f"incompatible hot restart version {message.get('version')!r}: "
                                             f"this epoch speaks {VERSION!r}")
                log.error("hot restart refused: %s", reply["error"])
            else:
                reply.update(ok=True, version=VERSION, pid=os.getpid(), epoch=self.owner.epoch)
        elif kind == RESTART_GET_LISTEN_SOCKET:
            sock = self.owner.listen_socket(tuple(message["address"]))
            if sock is not None:
                fds.append(sock.fileno())
        elif kind == RESTART_SHUTDOWN_ADMIN:
            reply["original_start_time"] = self.owner.lend_admin()
        elif kind == RESTART_STATS:
            reply.update(self.owner.export_stats())
        elif kind == RESTART_HEALTH:
            reply["health"] = self.owner.export_health()
        elif kind == RESTART_DRAIN:
            self.handed_over = True
            self.owner.hand_over(message.get("move", []), message.get("drain_time", 0.0),
                                 message.get("immediate", False))
        elif kind == RESTART_TERMINATE:
            self.owner.terminate()
        elif kind == RESTART_CONFIG_INVENTORY:
            reply.update(ok=True, inventory=self.owner.config_inventory())
        else:
            reply.update(ok=False, error=f"unknown request {kind!r}")
        channel.send(reply, fds)

    def pass_connection(self, listener_name, fd):
        """An idle connection of a draining worker goes to the successor. False if it cannot."""
        channel = self.successor
        if channel is None:
            return False
        try:
            channel.send({"t": RESTART_CONNECTION, "listener": listener_name}, [fd])
            return True
        except OSError:
            return False

    def send_final_stats(self):
        channel = self.successor
        if channel is not None:
            try:
                channel.send({"t": RESTART_FINAL_STATS, **self.owner.export_stats()})
            except OSError:
                pass
