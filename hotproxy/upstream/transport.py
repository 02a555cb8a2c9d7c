"""How a new upstream connection is established once TCP connects, per host: a PROXY protocol
header announcing the downstream connection, then a TLS handshake, either or both absent (the
cluster's ``transport_socket``). With ``transport_socket_matches``, each host gets the first match
whose labels its endpoint's metadata holds, else the first its locality's holds, else the
cluster's own, as in Envoy; ``cluster.<name>.<match>.total_match_count`` counts the hosts each
gave a transport to (``default`` for the cluster's own)."""
from __future__ import annotations

from ..config.cluster import UpstreamProxyProtocol
from ..stats.counter_map import CounterMap
from ..stats.tls import TlsStats
from . import proxy_protocol
from .connect import ConnectFailure


class UpstreamTransport:
    def __init__(self, config, tls_counters, alpn_fallback=()):
        """``config``: an UpstreamTlsContext, an UpstreamProxyProtocol or None (plain text)."""
        self.proxy_version = None
        if isinstance(config, UpstreamProxyProtocol):
            self.proxy_version, config = config.version, config.inner
        self.tls = _upstream_tls(config, tls_counters, alpn_fallback) if config is not None else None
        self._tls_counters = tls_counters
        self._alpn_fallback = alpn_fallback

    def use(self, config):
        """SDS rotated a secret: connections made from now on use ``config``'s TLS (pooled
        ones keep theirs). Same shape as the one it replaces."""
        if isinstance(config, UpstreamProxyProtocol):
            config = config.inner
        if config is not None:
            self.tls = _upstream_tls(config, self._tls_counters, self._alpn_fallback)

    def establish(self, sock, host, options):
        """``sock`` (connected to ``host``) ready to carry data; raises ConnectFailure."""
        if self.proxy_version is not None:
            source = destination = None
            if options is not None:
                source, destination = options.proxy_source, options.proxy_destination
            try:
                sock.sendall(proxy_protocol.header(self.proxy_version, source, destination))
            except OSError:
                sock.close()
                raise ConnectFailure("remote connection failure") from None
        if self.tls is not None:
            sock = self.tls.handshake(sock, host.hostname, options)
        return sock


class TransportSockets:
    """A cluster's transports: its own and those of its ``transport_socket_matches``."""

    def __init__(self, cluster_config):
        sockets = [cluster_config.transport_socket,
                   *(match.transport_socket for match in cluster_config.transport_socket_matches)]
        has_tls = any(s is not None and not (isinstance(s, UpstreamProxyProtocol) and s.inner is None)
                      for s in sockets)
        #: the cluster's ``ssl.*`` counters, shared by its TLS transports; None without TLS
        self.tls_stats = (TlsStats(), CounterMap()) if has_tls else None
        self._applied = sockets      # the configs the transports were made or last rebuilt with
        # auto_config: ALPN chooses each connection's protocol (Envoy's mixed pool offers both)
        self._alpn_fallback = ("h2", "http/1.1") if cluster_config.auto_http else ()
        self.default = self._make(cluster_config.transport_socket)
        self.matches = [(match.name, dict(match.match), self._make(match.transport_socket))
                        for match in cluster_config.transport_socket_matches]
        self.match_counts = CounterMap()
        for name in ["default", *(name for name, _, _ in self.matches)]:
            self.match_counts.add(f"{name}.total_match_count", 0)

    @property
    def uses_tls(self) -> bool:
        return self.tls_stats is not None

    @property
    def uses_proxy_protocol(self) -> bool:
        return any(t is not None and t.proxy_version for t in self._all())

    def for_host(self, endpoint_labels, locality_labels) -> UpstreamTransport | None:
        """The transport for a host with these socket match labels (None: plain text)."""
        for labels in (endpoint_labels, locality_labels):
            for name, match, transport in self.matches:
                if _labels_match(match, labels):
                    self.match_counts.add(f"{name}.total_match_count")
                    return transport
        self.match_counts.add("default.total_match_count")
        return self.default

    def use(self, cluster_config):
        """The same transports with the TLS material of ``cluster_config`` (SDS rotated a
        secret); hosts hold these objects, so they follow."""
        sockets = [cluster_config.transport_socket,
                   *(match.transport_socket for match in cluster_config.transport_socket_matches)]
        for transport, config, applied in zip(self._all(), sockets, self._applied):
            if transport is not None and config != applied:
                transport.use(config)
        self._applied = sockets

    def _make(self, config):
        return (UpstreamTransport(config, self.tls_stats, self._alpn_fallback)
                if config is not None else None)

    def _all(self):
        return [self.default, *(transport for _, _, transport in self.matches)]


def _labels_match(match: dict, labels) -> bool:
    """Envoy's metadataLabelMatch: every (key, value) of ``match`` is in ``labels``; an empty
    match holds for any host, metadata or not."""
    if labels is None:
        return not match
    have = dict(labels)
    return all(key in have and _same_value(have[key], value) for key, value in match.items())


def _same_value(a, b) -> bool:
    """Equality of two protobuf Values: a bool is never a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _upstream_tls(config, tls_counters, alpn_fallback):
    # imported here: a worker whose clusters have no TLS never maps ssl and libcrypto (about
    # 6 MB of its RSS; tests/integration/test_worker_imports.py)
    from .tls import UpstreamTls
    return UpstreamTls(config, *tls_counters, alpn_fallback)
