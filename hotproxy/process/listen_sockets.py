"""The arbiter's listening sockets, by address, for its whole life.

A listener whose address is unchanged across a reload keeps its socket (and so its listen queue:
no connection waiting in it is lost); a new address gets a socket now, from the previous epoch
while one hands over (process/hotrestart/epochs.py), bound here otherwise. A socket closes once
no STARTING or READY generation uses it, or when the operator drains its listener. Workers hold
duplicates; a process leaving a listener only ever ``close()``s its own.

Sockets systemd passed (socket activation, process/systemd_activation.py) come first: a listener
they serve takes one instead of binding, and they are never closed while the arbiter runs, used or
not, so that a listener a reload adds back finds its socket again.
"""
from __future__ import annotations

import logging

from .generation import READY, STARTING
from .systemd_activation import ActivatedSockets

log = logging.getLogger("hotproxy.arbiter")


class ListenSockets:
    def __init__(self, obtain, activated=None):
        """``obtain(address)``: a listening socket for a config SocketAddress (raises OSError);
        ``activated``: the ActivatedSockets systemd passed (taken from the environment when None)."""
        self._obtain = obtain
        self._activated = ActivatedSockets.from_environment() if activated is None else activated
        self._sockets = {}           # (address, port) → listening stdlib socket
        #: (address, port) of a listener → the activated socket serving it, for a successor epoch
        self._activated_at = {}
        #: (listener name, address) → the (address, port) the kernel gave a listener on port 0:
        #: it keeps that port while its name and address stay, as Envoy's does
        self._ephemeral = {}

    def get(self, key):
        """The socket of the listener at ``key`` (address, port), or None."""
        return self._sockets.get(key) or self._activated_at.get(key) or self._activated.at(key)

    def bind(self, bootstrap):
        """The listening socket of every listener in ``bootstrap`` by name: kept from earlier
        generations when the address is unchanged, bound now otherwise. Raises OSError, naming
        the listener, and then keeps none of the new ones."""
        by_name = self._activated.assign(bootstrap.listeners)
        fresh = []
        try:
            for listener in bootstrap.listeners:
                key = (listener.address.address, listener.address.port)
                if listener.name in by_name:
                    self._activated_at[key] = by_name[listener.name]
                    log.info("listener '%s' serves on the socket systemd passed at %s:%d", listener.name,
                             *by_name[listener.name].getsockname()[:2])
                    continue
                if not key[1]:
                    key = self._ephemeral.get((listener.name, key[0]), key)
                sock = self._sockets.get(key) if key[1] else None
                if sock is None:
                    sock = self._obtain(listener.address)
                    fresh.append((key, sock))
                    if not key[1]:
                        self._ephemeral[listener.name, key[0]] = (key[0], sock.getsockname()[1])
                by_name[listener.name] = sock
        except OSError as exc:
            for _key, sock in fresh:
                sock.close()
            address = f"{listener.address.address}:{listener.address.port}"
            raise OSError(exc.errno, f"listener '{listener.name}': cannot bind {address}: "
                                     f"{exc.strerror or exc}") from None
        for key, sock in fresh:
            self._sockets[key if key[1] else (key[0], sock.getsockname()[1])] = sock
        return by_name

    def close_unused(self, generations):
        """Close the sockets no STARTING or READY generation of ``generations`` uses."""
        in_use = set()
        for generation in generations:
            if generation.state in (READY, STARTING):
                in_use.update(id(sock) for sock in generation.sockets.values())
        self._activated_at = {key: sock for key, sock in self._activated_at.items() if id(sock) in in_use}
        for key, sock in list(self._sockets.items()):
            if id(sock) not in in_use:
                log.info("closing listener socket %s:%d (no longer configured)", *key)
                sock.close()
                del self._sockets[key]
        self._ephemeral = {name: key for name, key in self._ephemeral.items() if key in self._sockets}

    def close_drained(self, name, sock):
        """Listener ``name`` was drained by the operator: its socket ``sock`` closes for good."""
        for key, held in list(self._sockets.items()):
            if held is sock:
                log.info("listener %s drained: closing %s:%d", name, *key)
                del self._sockets[key]
                sock.close()

    def close_all(self):
        for sock in self._sockets.values():
            sock.close()
        self._activated.close_all()
