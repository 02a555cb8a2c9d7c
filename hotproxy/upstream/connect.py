"""Opening a connection to an upstream host, counted as Envoy counts it: for the HTTP pools and
the TCP proxy alike."""
from __future__ import annotations

import socket as _stdsocket

from gevent import socket


class ConnectFailure(Exception):
    """Connecting failed. ``reason`` is Envoy's reset reason: "connection timeout",
    "remote connection failure" or "overflow"."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def connect(host, cluster_stats, timeout, tls=None, names=None):
    """A connected gevent socket to ``host`` with TCP_NODELAY and no timeout of its own (the
    caller's deadline governs from here on); with ``tls`` (upstream/tls.py), a TLS socket whose
    handshake is done, within the same ``timeout``, for the request ``names`` if any. Counts ``upstream_cx_*`` on the cluster and
    the host. Raises ConnectFailure."""
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
    if tls is not None:
        try:
            sock = tls.handshake(sock, host.hostname, names)
        except ConnectFailure:
            cluster_stats.upstream_cx_connect_fail += 1
            host_stats.cx_connect_fail += 1
            raise
    sock.timeout = None
    cluster_stats.upstream_cx_active += 1
    return sock
