"""Who this proxy is, as spans name it: the node's id, cluster (Zipkin's service name), zone,
and the address of its first non-loopback interface (Zipkin's localEndpoint, as Envoy finds
it). The worker fills it from the bootstrap before its connection managers are built."""
from __future__ import annotations

import socket


class LocalInfo:
    __slots__ = ("node_id", "cluster", "zone", "_address")

    def __init__(self):
        self.node_id = ""
        self.cluster = ""
        self.zone = ""
        self._address = None

    def set(self, node_id, cluster, zone=""):
        self.node_id = node_id or ""
        self.cluster = cluster or ""
        self.zone = zone or ""

    @property
    def address(self):
        if self._address is None:
            self._address = _first_address()
        return self._address


def _first_address():
    """The source address the kernel picks for a route off this host; no packet is sent."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


LOCAL = LocalInfo()
