"""The network filters that run before a chain's terminal one (the connection manager or the TCP
proxy): Envoy's read filters that look at a connection and let it through or close it.

A filter's config is a frozen dataclass deriving from config/listener.py's ``NetworkFilter``; its
``runtime`` names a module of this package whose ``factory(config, context)`` returns a
``NetworkFilter`` (below), made once per filter chain. For each connection the chain calls the
filters' ``on_new_connection(conn)`` in config order, after the TLS handshake (so that the
client certificate is known) and before the terminal filter; the first that returns False
closes the connection. ``stat_sets()`` declares what a filter counts; the listener ships them.

A connection_limit filter is not one of these: it acts before the handshake, as in Envoy
(network/connection_limit.py).
"""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)


class NewConnection:
    """What a network filter may read of a connection: ``remote`` (ip, port) of the client as
    the listener filters left it (PROXY protocol), ``direct_remote_ip`` (the TCP peer), ``tls``
    (listener/tls_transport.py's DownstreamTls, None for plain text), ``server_name`` (SNI from
    the handshake or tls_inspector), ``local`` (ip, port), ``adopted`` (an idle connection moved
    from an older generation) and ``sock``."""

    __slots__ = ("sock", "remote", "direct_remote_ip", "tls", "server_name", "adopted", "_local")

    def __init__(self, sock, remote, tls=None, found=None, adopted=False):
        self.sock = sock
        self.remote = remote
        self.tls = tls
        self.adopted = adopted
        direct = found.direct_source_ip if found is not None else None
        self.direct_remote_ip = direct or remote[0]
        self.server_name = (tls.server_name if tls is not None and tls.server_name
                            else found.server_name if found is not None else None)
        self._local = (found.destination_ip, found.destination_port) if found is not None else None

    @property
    def local(self):
        """(ip, port); ("", 0) once the client is gone (the terminal then finds it closed)."""
        if self._local is None:
            try:
                self._local = self.sock.getsockname()[:2]
            except OSError:
                self._local = ("", 0)
        return self._local


class NetworkFilter:
    """A non-terminal network filter, shared by every connection of its chain."""

    def on_new_connection(self, conn) -> bool:
        """True to pass the connection on; False to have it closed (the filter may first hold
        it, e.g. to delay the close)."""
        return True

    def stat_sets(self):
        """(full prefix, stat set) pairs (stats/schema.py ``stat_set``)."""
        return ()


class ClientAddress(tuple):
    """The client's (ip, port), carrying to the network filters what the listener filters found
    (``found``: listener/filter_chain_match.py's Connection, or None) and whether the connection
    was ``adopted``, through whatever stands between the chain and them (connection_limit)."""

    def __new__(cls, address, found=None, adopted=False):
        self = super().__new__(cls, address)
        self.found = found
        self.adopted = adopted
        return self


class FilterContext:
    """What a network filter factory may use: the listener's name, the chain's index."""

    def __init__(self, listener_name, chain_index):
        self.listener_name = listener_name
        self.chain_index = chain_index


def build_filters(configs, context):
    """The NetworkFilter of each config of a chain's that names a runtime module."""
    built = []
    for config in configs:
        runtime = getattr(config, "runtime", None)
        if runtime:
            module = importlib.import_module(f"{__package__}.{runtime}")
            built.append(module.factory(config, context))
    return built


class FilteredTerminal:
    """A terminal filter behind its chain's network filters: ``serve`` runs the filters, then the
    terminal. A connection a filter refuses still counts in the terminal's
    ``downstream_cx_total`` (and the connection manager's active and destroyed connections): in
    Envoy the terminal filter exists from the connection's start."""

    def __init__(self, filters, terminal):
        self.filters = filters
        self.terminal = terminal
        self.stats = terminal.stats
        self._counts_active = "downstream_cx_active" in terminal.stats.gauges

    def serve(self, sock, address, tls=None):
        found, adopted = getattr(address, "found", None), getattr(address, "adopted", False)
        address = tuple(address)
        conn = NewConnection(sock, address, tls, found, adopted)
        for network_filter in self.filters:
            if not network_filter.on_new_connection(conn):
                self._count_refused()
                return
        if tls is None:
            self.terminal.serve(sock, address)
        else:
            self.terminal.serve(sock, address, tls=tls)

    def _count_refused(self):
        stats = self.stats
        stats.downstream_cx_total += 1
        if self._counts_active:
            stats.downstream_cx_destroy += 1
