"""The ``envoy.filters.network.connection_limit`` filter: at most ``max_connections`` connections
through a listener's chain, counted across every worker process (a SharedCounter from
listener/connection_counts.py).

As in Envoy, a connection over the limit is counted in ``limited_connections``, its bytes are
read and dropped, and it is closed after ``delay`` (at once without one); while it waits it
counts in ``active_connections`` and against the limit, as Envoy counts it until it closes.
The chain's terminal filter counts it in its ``downstream_cx_total`` (and the connection
manager in its active and destroyed connections) but never serves it: in Envoy the filters are
created with the connection, and the limit stops it before the terminal filter starts.
"""
from __future__ import annotations

import gevent

from ..stats.schema import ConnectionLimitStats

_DISCARD = 65536


class ConnectionLimitFilter:
    def __init__(self, config, counter, terminal):
        self.config = config
        self.counter = counter
        self.terminal = terminal
        self.stats = ConnectionLimitStats()
        self._counts_active = "downstream_cx_active" in terminal.stats.gauges

    def serve(self, sock, address, adopted=False):
        """Pass the connection to the terminal filter, or hold and close it if over the limit.
        An ``adopted`` connection (from an older generation) was admitted there: it keeps its
        place."""
        stats = self.stats
        counter = self.counter
        stats.active_connections += 1
        try:
            if adopted:
                counter.add()
            elif not counter.try_acquire():
                counter.add()
                stats.limited_connections += 1
                return self._refuse(sock)
            self.terminal.serve(sock, address)
        finally:
            counter.release()
            stats.active_connections -= 1

    def _refuse(self, sock):
        terminal_stats = self.terminal.stats
        terminal_stats.downstream_cx_total += 1
        if self._counts_active:
            terminal_stats.downstream_cx_active += 1
        try:
            if self.config.delay:
                # Envoy stops iterating and drops what arrives; the client may leave first
                with gevent.Timeout(self.config.delay, False):
                    while sock.recv(_DISCARD):
                        pass
        except OSError:
            pass
        finally:
            if self._counts_active:
                terminal_stats.downstream_cx_active -= 1
                terminal_stats.downstream_cx_destroy += 1
