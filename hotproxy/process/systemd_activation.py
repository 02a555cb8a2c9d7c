"""Socket activation (sd_listen_fds(3) without libsystemd): listening sockets systemd opened for
us, matched to listeners by name or by address.

systemd passes descriptors 3 .. 3+LISTEN_FDS-1 when LISTEN_PID is our pid, with their
FileDescriptorName= values in LISTEN_FDNAMES (colon-separated). A listener takes the socket named
as it is; failing that, the socket bound at exactly its address. A socket no listener takes stays
open and unused (a later reload may add its listener back); one that cannot serve a listener (not
a listening TCP socket) is named in a warning and left alone too.

``parse_environment`` and ``match`` are pure; ``describe`` only asks the kernel about a descriptor;
``ActivatedSockets`` holds the sockets for the arbiter's whole life.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import socket
import stat
from dataclasses import dataclass
from typing import Optional

log = logging.getLogger("hotproxy.arbiter")

LISTEN_FDS_START = 3
ENVIRONMENT = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


class ActivationError(ValueError):
    """The environment does not describe descriptors passed to this process."""


def parse_environment(environ, pid):
    """[(fd, name)] that systemd passed to process ``pid``; [] when none were passed to it.
    Raises ActivationError when the variables are there but malformed."""
    listen_pid, count = environ.get("LISTEN_PID"), environ.get("LISTEN_FDS")
    if listen_pid is None or count is None:
        return []
    if not listen_pid.isdigit() or not count.isdigit():
        raise ActivationError(f"LISTEN_PID={listen_pid!r} LISTEN_FDS={count!r}: not numbers")
    if int(listen_pid) != pid:
        return []  # meant for another process (we were started by the one they were for)
    count = int(count)
    names = environ.get("LISTEN_FDNAMES")
    names = names.split(":") if names else ["unknown"] * count
    if len(names) != count:
        raise ActivationError(f"LISTEN_FDNAMES has {len(names)} names for LISTEN_FDS={count}")
    return [(LISTEN_FDS_START + index, name) for index, name in enumerate(names)]


@dataclass(frozen=True)
class Inherited:
    """What the kernel says of one passed descriptor."""
    fd: int
    name: str
    address: Optional[tuple] = None   # (ip text, port) of a listening TCP socket
    unusable: Optional[str] = None    # why no listener can take it

    def describe(self):
        where = f"{self.address[0]}:{self.address[1]}" if self.address else self.unusable
        return f"fd {self.fd} '{self.name}' ({where})"


def describe(fd, name):
    """An ``Inherited`` for descriptor ``fd`` (never raises)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        return Inherited(fd, name, unusable=f"not open: {exc.strerror}")
    if not stat.S_ISSOCK(mode):
        return Inherited(fd, name, unusable="not a socket")
    probe = socket.socket(fileno=os.dup(fd))
    try:
        if probe.family not in (socket.AF_INET, socket.AF_INET6):
            return Inherited(fd, name, unusable=f"a {probe.family.name} socket, not TCP")
        if probe.type != socket.SOCK_STREAM:
            return Inherited(fd, name, unusable="not a stream socket")
        if not probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return Inherited(fd, name, unusable="not listening")
        host, port = probe.getsockname()[:2]
        return Inherited(fd, name, address=(host, port))
    except OSError as exc:
        return Inherited(fd, name, unusable=exc.strerror or str(exc))
    finally:
        probe.close()


def same_address(config_address, config_port, bound):
    """Whether a listener configured at (``config_address``, ``config_port``) is the socket bound
    at ``bound`` (ip text, port): the same port (never 0) and the same IP however written."""
    if not config_port or config_port != bound[1]:
        return False
    try:
        return ipaddress.ip_address(config_address) == ipaddress.ip_address(bound[0])
    except ValueError:
        return False


def match(listeners, inherited):
    """{listener name: Inherited} for ``listeners`` [(name, address, port)]: by name first (of
    several sockets named alike, the one at the listener's address, else the first), then by
    address among the sockets no name took. A socket serves one listener at most."""
    usable = [item for item in inherited if item.unusable is None]
    taken, chosen = set(), {}
    for name, address, port in listeners:
        named = [item for item in usable if item.name == name and item.fd not in taken]
        if named:
            exact = [item for item in named if same_address(address, port, item.address)]
            chosen[name] = (exact or named)[0]
            taken.add(chosen[name].fd)
    for name, address, port in listeners:
        if name in chosen:
            continue
        for item in usable:
            if item.fd not in taken and same_address(address, port, item.address):
                chosen[name] = item
                taken.add(item.fd)
                break
    return chosen


class ActivatedSockets:
    """The sockets systemd passed to this arbiter, open until it exits."""

    def __init__(self, inherited=()):
        self.inherited = list(inherited)
        self._sockets = {}  # fd → socket object, for the usable ones
        for item in self.inherited:
            if item.unusable is None:
                os.set_inheritable(item.fd, False)  # children get them as listeners, not by accident
                self._sockets[item.fd] = socket.socket(fileno=item.fd)

    @classmethod
    def from_environment(cls, environ=os.environ):
        """Takes what systemd passed, and clears the variables so no child takes them again."""
        try:
            passed = parse_environment(environ, os.getpid())
        except ActivationError as error:
            log.warning("socket activation ignored: %s", error)
            passed = []
        finally:
            for variable in ENVIRONMENT:
                environ.pop(variable, None)
        activated = cls(describe(fd, name) for fd, name in passed)
        for item in activated.inherited:
            if item.unusable is None:
                log.info("socket activation: %s", item.describe())
            else:
                log.warning("socket activation: %s cannot serve a listener: left alone", item.describe())
        return activated

    def __bool__(self):
        return bool(self._sockets)

    def assign(self, listeners):
        """{listener name: socket} for the config listeners ``listeners`` that an inherited socket
        serves (see ``match``)."""
        if not self._sockets:
            return {}
        keys = [(listener.name, listener.address.address, listener.address.port) for listener in listeners]
        return {name: self._sockets[item.fd] for name, item in match(keys, self.inherited).items()}

    def at(self, key):
        """The inherited socket bound at ``key`` (ip text, port), or None."""
        for item in self.inherited:
            if item.unusable is None and same_address(key[0], key[1], item.address):
                return self._sockets[item.fd]
        return None

    def holds(self, sock):
        return any(held is sock for held in self._sockets.values())

    def close_all(self):
        for sock in self._sockets.values():
            sock.close()
        self._sockets, self.inherited = {}, []
