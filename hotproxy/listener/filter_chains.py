"""A listener's filter chains in a worker, and the choice of one for each connection.

A chain is its terminal filter (the connection manager or the TCP proxy), behind its other network
filters when it has any (network/filters.py: RBAC, …), behind its TLS transport socket when it has
one, behind a connection_limit filter when it has one (in Envoy the limit acts as the connection
is created, before the handshake).

``FilterChains.choose(sock, address)`` runs the listener filters and the filter-chain match; a
listener with one chain, no match criteria and no listener filters skips both, so that a plain
listener pays nothing for them.
"""
from __future__ import annotations

from ..config.filter_chain import FilterChainMatch
from ..config.listener import ConnectionLimit
from ..network.connection_limit import ConnectionLimitFilter
from ..network.filters import ClientAddress, FilterContext, FilteredTerminal, build_filters
from .connection_counts import connection_limit_key
from .filter_chain_match import Connection, FilterChainMatcher
from .inspection import Inspection, InspectionStats


class ActiveFilterChain:
    def __init__(self, config, terminal, tls_ticket_key=None, limit_counter=None, network_filters=()):
        self.config = config
        self.terminal = terminal
        self.tls = _tls_transport(config.transport_socket, tls_ticket_key) if config.transport_socket else None
        self.network_filters = list(network_filters)
        filtered = FilteredTerminal(self.network_filters, terminal) if self.network_filters else terminal
        entry = filtered if self.tls is None else _TlsTerminated(self.tls, filtered)
        limit = next((f for f in config.filters if isinstance(f, ConnectionLimit)), None)
        self.connection_limit = (ConnectionLimitFilter(limit, limit_counter, entry)
                                 if limit is not None else None)
        self._entry = entry

    def serve(self, sock, address, adopted=False, found=None):
        """``found``: what the listener filters found (filter_chain_match.Connection), if run."""
        if self.network_filters:
            address = ClientAddress(address, found, adopted)
        if self.connection_limit is not None:
            self.connection_limit.serve(sock, address, adopted)
        else:
            self._entry.serve(sock, address)


class _TlsTerminated:
    """A terminal filter behind a TLS handshake; it reads and writes plain text."""

    def __init__(self, tls, terminal):
        self.tls = tls
        self.terminal = terminal
        self.stats = terminal.stats  # what connection_limit counts a refused connection in

    def serve(self, sock, address):
        handshaken = self.tls.handshake(sock)
        if handshaken is None:
            return
        tls_sock, info = handshaken
        try:
            self.terminal.serve(tls_sock, address, tls=info)
        finally:
            tls_sock.close()


class FilterChains:
    def __init__(self, listener, build_terminal, counts=None, tls_ticket_key=None):
        """``build_terminal(filter_config)`` makes a chain's terminal filter; ``counts`` is the
        worker's shared connection counts (for connection_limit filters). The other network
        filters are made here, once per chain."""
        self.stats = InspectionStats()
        chains = []
        for index, config in enumerate(listener.all_filter_chains()):
            has_limit = any(isinstance(f, ConnectionLimit) for f in config.filters)
            counter = None
            if has_limit:
                limit = next(f for f in config.filters if isinstance(f, ConnectionLimit))
                counter = counts.counter(connection_limit_key(listener.name, index), limit.max_connections)
            network_filters = build_filters(config.filters[:-1], FilterContext(listener.name, index))
            chains.append(ActiveFilterChain(config, build_terminal(config.filters[-1]), tls_ticket_key, counter,
                                            network_filters))
        self.chains = chains
        default = chains[-1] if listener.default_filter_chain is not None else None
        matched = chains[:-1] if default is not None else chains
        self.inspection = (Inspection(listener.listener_filters, listener.listener_filters_timeout,
                                      listener.continue_on_listener_filters_timeout, self.stats)
                           if listener.listener_filters else None)
        #: the one chain every connection takes, when nothing needs to be looked at to know it
        self.only = None
        if self.inspection is None and len(chains) == 1 and chains[0].config.match == FilterChainMatch():
            self.only = chains[0]
        self._matcher = FilterChainMatcher([(chain.config.match, chain) for chain in matched], default)

    def choose(self, sock, address, adopted=False):
        """(chain, the client's address, what the listener filters found or None) for a
        connection, or None when it is to be closed (a listener filter refused it, or no chain
        matches). An ``adopted`` connection (an idle plain-text one from an older generation) is
        past its first bytes: only its addresses are matched."""
        if self.only is not None:
            return self.only, address, None
        if self.inspection is not None and not adopted:
            connection = self.inspection.run(sock, address)
            if connection is None:
                return None
        else:
            local = sock.getsockname()
            connection = Connection(local[0], local[1], address[0], address[1])
        chain = self._matcher.select(connection)
        if chain is None:
            self.stats.listener.no_filter_chain_match += 1
            return None
        return chain, (connection.source_ip, connection.source_port), connection

    def terminals(self):
        return [chain.terminal for chain in self.chains]


def _tls_transport(config, tls_ticket_key):
    # imported here: a worker whose listeners have no TLS never maps ssl and libcrypto
    from .tls_transport import TlsTransport
    return TlsTransport(config, tls_ticket_key)
