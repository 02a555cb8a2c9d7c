"""A cluster's TLS transport socket in a worker: the handshake that completes each new upstream
connection, counted in the cluster's ``ssl.*`` stats. A failed handshake is a failed connect, as
in Envoy (``upstream_cx_connect_fail``, a 503 with the reset reason ``remote connection failure``,
flag ``UF``)."""
from __future__ import annotations

from ..config.tls import UpstreamTlsContext
from ..stats.counter_map import CounterMap
from ..stats.tls import TlsStats
from ..tls.client import ClientTls, HandshakeFailure
from ..tls.openssl import count_negotiated
from .connect import ConnectFailure


class UpstreamTls:
    def __init__(self, config: UpstreamTlsContext, stats=None, dynamic=None, alpn_fallback=()):
        """``stats`` and ``dynamic``: the cluster's ``ssl.*`` counters, when several of its
        transport sockets share them; ``alpn_fallback``: tls/client.py's."""
        self.client = ClientTls(config, alpn_fallback)
        self.stats = stats if stats is not None else TlsStats()
        # ciphers.*, versions.*, curves.*, sigalgs.*
        self.dynamic = dynamic if dynamic is not None else CounterMap()

    def handshake(self, sock, hostname: str = "", options=None):
        """``sock`` (connected) wrapped in TLS, with the SNI and SAN a request asked for
        (``options``, connect.py) if any; raises ConnectFailure (``sock`` is then closed)."""
        try:
            tls = self.client.wrap(sock, hostname, options)
        except HandshakeFailure as failure:
            setattr(self.stats, failure.stat, getattr(self.stats, failure.stat) + 1)
            raise ConnectFailure("remote connection failure") from None
        stats = self.stats
        stats.handshake += 1
        if tls.session_reused:
            stats.session_reused += 1
        cipher, version, _bits = tls.cipher()
        self.dynamic.add(f"ciphers.{cipher}")
        self.dynamic.add(f"versions.{version}")
        count_negotiated(self.dynamic, tls)
        return tls

    def remember(self, tls, hostname: str = "", options=None) -> None:
        """Keep the session of a connection that carried an exchange, for the next handshake."""
        self.client.remember(tls, hostname, options)
