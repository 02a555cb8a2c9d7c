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


def connect(host, cluster_stats, timeout, transport=None, options=None, bind=None):
    """A connected gevent socket to ``host`` with TCP_NODELAY and no timeout of its own (the
    caller's deadline governs from here on), established by ``transport`` (transport.py: a PROXY
    protocol header, a TLS handshake) within the same ``timeout``, with ``options`` if any,
    from the source address of ``bind`` (the cluster's UpstreamBindConfig) if any. Counts
    ``upstream_cx_*`` on the cluster and the host. Raises ConnectFailure."""
    cluster_stats.upstream_cx_total += 1
    host_stats = host.stats
    host_stats.cx_total += 1
    address = host.address
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if bind is not None:
            _bind(sock, bind)
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


#: IP_FREEBIND (linux/in.h): bind to an address the host does not (yet) have
IP_FREEBIND = 15


def _bind(sock, bind):
    """Envoy's upstream_bind_config: IP_FREEBIND when asked, then the source address (port 0:
    any). A bind that fails is the connection's failure, as in Envoy."""
    if bind.freebind:
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    if bind.source_address is not None:
        sock.bind(bind.source_address)
