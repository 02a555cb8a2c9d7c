"""Opening a connection to an upstream host, counted as Envoy counts it: for the HTTP pools and
the TCP proxy alike."""
from __future__ import annotations

import socket as _stdsocket
from dataclasses import dataclass

from gevent import socket


class ConnectFailure(Exception):
    """Connecting failed. ``reason`` is Envoy's reset reason: "connection timeout",
    "remote connection failure" or "overflow"."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ConnectOptions:
    """What a request or a downstream connection asks of a new upstream connection beyond its
    host's transport: the SNI and the SAN to verify (server_names.py), and the addresses a PROXY
    protocol header announces. Hashable: connections made with different options are pooled
    apart, as Envoy hashes them into its pool key."""
    sni: str | None = None
    san: str | None = None
    proxy_source: tuple | None = None
    proxy_destination: tuple | None = None


def connect(host, cluster_stats, timeout, transport=None, options=None):
    """A connected gevent socket to ``host`` with TCP_NODELAY and no timeout of its own (the
    caller's deadline governs from here on), established by ``transport`` (transport.py: a PROXY
    protocol header, a TLS handshake) within the same ``timeout``, with ``options`` if any.
    Counts ``upstream_cx_*`` on the cluster and the host. Raises ConnectFailure."""
    cluster_stats.upstream_cx_total += 1
    host_stats = host.stats
    host_stats.cx_total += 1
    address = host.address
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError as exc:
        sock.close()
        cluster_stats.upstream_cx_connect_fail += 1
        host_stats.cx_connect_fail += 1
        if isinstance(exc, _stdsocket.timeout):
            cluster_stats.upstream_cx_connect_timeout += 1
            raise ConnectFailure("connection timeout") from None
        raise ConnectFailure("remote connection failure") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if transport is not None:
        try:
            sock = transport.establish(sock, host, options)
        except ConnectFailure:
            cluster_stats.upstream_cx_connect_fail += 1
            host_stats.cx_connect_fail += 1
            raise
    sock.timeout = None
    cluster_stats.upstream_cx_active += 1
    return sock
