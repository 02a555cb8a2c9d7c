"""A worker's active listeners: one accept loop per listener, handing each connection to the
listener's filter chains (listener/filter_chains.py: listener filters, the filter-chain match,
TLS, connection_limit, then the chain's terminal filter).

Every listener of a worker accepts into one bounded pool (``accept_pool``): when it is full,
the listeners stop accepting and new connections wait in the kernel's backlog until one ends,
rather than failing on the file-descriptor limit (each proxied connection needs two). The
overload manager's stop_accepting_connections pauses them the same way (``pause_accepting``).

With connection_balance_config's exact_balance, a listener's workers take turns at accepting:
the one holding the fewest of its connections accepts (``_BalancedServer``, balance.py).

Before a connection reaches its chain, the overload manager may refuse it (listener/overload.py:
the global connection limit, reject_incoming_connections); a connection_limit filter in the
chain may hold and close it (network/connection_limit.py).
"""
from __future__ import annotations

import logging
import os
import resource

import gevent
from gevent import socket
from gevent.pool import Pool
from gevent.server import StreamServer

from ..config.filter_chain import OriginalDst, ProxyProtocol
from ..config.listener import HttpConnectionManager as HcmConfig
from ..config.listener import TcpProxy as TcpProxyConfig
from ..http.conn_manager import HttpConnectionManager
from ..network.tcp_proxy import TcpProxy
from ..server_state import ServerState
from ..stats.schema import ListenerStats
from ..upstream import restored_destinations
from .balance import RECHECK_S, ExactBalance
from .filter_chains import FilterChains

log = logging.getLogger(__name__)


def build_terminal_filter(filter_config, cluster_manager, deadlines, access_log_sink, server_state):
    """The network filter that owns a connection: the HCM or the TCP proxy."""
    if isinstance(filter_config, HcmConfig):
        return HttpConnectionManager(filter_config, cluster_manager, deadlines, access_log_sink,
                                     server_state)
    if isinstance(filter_config, TcpProxyConfig):
        return TcpProxy(filter_config, cluster_manager, deadlines, access_log_sink)
    raise TypeError(f"unsupported network filter {type(filter_config).__name__}")


#: Descriptors kept free for what is not a connection (new listeners, the channel, logs, DNS).
_SPARE_FDS = 32


def accept_pool():
    """The pool a worker's listeners accept into, as large as the process's descriptor limit
    allows at two descriptors a connection (the downstream one and its upstream one)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    return Pool(max(16, (soft - in_use - _SPARE_FDS) // 2))


class _PausableServer(StreamServer):
    """A StreamServer an overload action can pause: gevent's restarts accepting on its own when
    a pool slot frees, which must not undo the pause."""
    paused = False

    def start_accepting(self):
        if not self.paused:
            super().start_accepting()


class _BalancedServer(_PausableServer):
    """exact_balance (balance.py): accepts only on this worker's turn, looked at before each
    accept; otherwise stops watching the socket (level-triggered, it would wake the loop again
    at once) and looks again after RECHECK_S, or as soon as one of its connections ends."""

    def __init__(self, listener, handle, spawn, balance):
        super().__init__(listener, handle, spawn=spawn)
        self.balance = balance
        self._recheck = None

    def start_accepting(self):
        if not self.paused:
            self.balance.join()
        super().start_accepting()

    def stop_accepting(self):
        self._cancel_recheck()
        super().stop_accepting()

    def do_read(self):
        balance = self.balance
        if not balance.my_turn():
            self._stand_aside()
            return None         # ends this wakeup's accepts
        accepted = super().do_read()
        if accepted:
            balance.opened(accepted=True)
        return accepted

    def _stand_aside(self):
        self.balance.stood_aside()
        if self._watcher is not None and self._recheck is None:
            self._watcher.stop()
            self._recheck = self.loop.timer(RECHECK_S)
            self._recheck.start(self._look_again)

    def _look_again(self):
        self.balance.recheck()
        self._resume()

    def _resume(self):
        self._cancel_recheck()
        if self._watcher is not None and not self.paused:
            self._watcher.start(self._do_read)

    def _cancel_recheck(self):
        if self._recheck is not None:
            self._recheck.stop()
            self._recheck.close()
            self._recheck = None

    def connection_ended(self):
        self.balance.closed()
        if self._recheck is not None:     # fewer connections here: maybe this worker's turn now
            self._resume()


class ActiveListener:
    def __init__(self, config, listen_socket, cluster_manager, deadlines, access_log_sink=None,
                 server_state=None, pool=None, overload=None, counts=None, tls_ticket_key=None):
        """``overload`` is the worker's WorkerOverload and ``counts`` its WorkerCounts, when the
        config has an overload manager or connection_limit filters; ``tls_ticket_key`` the
        session-ticket key every worker's TLS listeners share."""
        self.config = config
        self.stats = ListenerStats()
        server_state = server_state or ServerState()

        def build_terminal(filter_config):
            terminal = build_terminal_filter(filter_config, cluster_manager, deadlines, access_log_sink,
                                             server_state)
            # per_connection_buffer_limit_bytes bounds what one read may bring in, and the body
            # a request keeps for a retry or a shadow copy (Envoy's request buffer limit)
            limit = config.per_connection_buffer_limit_bytes
            terminal.recv_size = min(terminal.recv_size, limit)
            if isinstance(terminal, HttpConnectionManager):
                terminal.router.retries.connection_buffer_limit = limit
            return terminal

        self.chains = FilterChains(config, build_terminal, counts, tls_ticket_key)
        #: whether a listener filter may restore a connection's local address (inspection.py),
        #: which is then forgotten when the connection ends
        self._restores = any(isinstance(f, (OriginalDst, ProxyProtocol)) for f in config.listener_filters)
        self.admission = None
        if overload is not None:
            self.admission = overload.admission(self.stats, not config.ignore_global_conn_limit)
            overload.listeners.append(self)
            for terminal in self.terminals():
                if isinstance(terminal, HttpConnectionManager):
                    if overload.affects_http:
                        terminal.overload = overload
                    if overload.reset_power is not None:
                        overload.http_managers.append(terminal)
        spawn = "default" if pool is None else pool
        balance = ExactBalance.from_counts(counts, config) if config.connection_balance else None
        if balance is not None:
            self._server = _BalancedServer(listen_socket, self._handle, spawn, balance)
        else:
            if config.connection_balance:
                log.warning("listener %s: exact_balance has no shared counts to balance with; "
                            "the kernel spreads its connections", config.name)
            self._server = _PausableServer(listen_socket, self._handle, spawn=spawn)
        self._balanced = isinstance(self._server, _BalancedServer)

    def terminals(self):
        """Each filter chain's terminal filter (connection manager or TCP proxy)."""
        return self.chains.terminals()

    def stat_sets(self):
        """``(prefix, stat set)`` pairs for what the listener's chains and filters count, beyond
        its own ``listener.<address>.`` stats and its terminal filters'."""
        scope = f"listener.{self.config.stat_name}."
        sets = self.chains.stats.sets(scope)
        for chain in self.chains.chains:
            limit = chain.connection_limit
            if limit is not None:
                sets.append((f"connection_limit.{limit.config.stat_prefix}.", limit.stats))
            for network_filter in chain.network_filters:
                sets.extend(network_filter.stat_sets())
            if chain.tls is not None:
                sets.append((scope + "ssl.", chain.tls.stats))
                sets.append((scope + "ssl.", chain.tls.dynamic))
        return sets

    def _handle(self, sock, address, adopted=False):
        try:
            self._serve(sock, address, adopted)
        finally:
            if self._balanced:
                self._server.connection_ended()

    def _serve(self, sock, address, adopted):
        admission = self.admission
        if admission is not None and not admission.admit(adopted):
            return  # the server closes it now, as Envoy closes a refused connection
        stats = self.stats
        stats.downstream_cx_total += 1
        stats.downstream_cx_active += 1
        descriptor = sock.fileno() if self._restores else None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            chosen = self.chains.choose(sock, address, adopted)
            if chosen is not None:
                chain, client, found = chosen
                chain.serve(sock, client, adopted, found)
        except Exception:  # a bug must cost one connection, never the worker
            log.exception("listener %s: connection from %s failed", self.config.name, address)
        finally:
            if descriptor is not None:
                restored_destinations.forget(descriptor)
            stats.downstream_cx_active -= 1
            stats.downstream_cx_destroy += 1
            if admission is not None:
                admission.release()

    @property
    def active_connections(self):
        return self.stats.downstream_cx_active

    def start(self):
        self._server.start()

    def adopt(self, sock, address):
        """Serve a connection accepted by an earlier generation, as if just accepted here."""
        if self._balanced:
            self._server.balance.opened(accepted=False)     # load here before the next accept
        gevent.spawn(self._adopted, sock, address)

    def _adopted(self, sock, address):
        try:
            self._handle(sock, address, adopted=True)
        finally:
            sock.close()

    def drain(self, move, drain_time, immediate):
        """Stop accepting (closing only this process's duplicate of the listening socket, never
        shutting it down: the arbiter and the next generation keep accepting on it) and let the
        filter wind down its connections: moved to the next generation (``move``) or closed over
        ``drain_time``. TCP proxy sessions run on until they end or the generation is stopped."""
        self.stop_accepting()
        for terminal in self.terminals():
            drain = getattr(terminal, "drain", None)
            if drain is not None:
                drain(move, drain_time, immediate)

    def stop_accepting(self):
        """Close this process's duplicate of the listening socket (never ``shutdown``)."""
        self._leave_balance()
        self._server.close()

    def pause_accepting(self):
        """stop_accepting_connections: new connections wait in the kernel's backlog."""
        self._leave_balance()
        self._server.paused = True
        self._server.stop_accepting()

    def _leave_balance(self):
        if self._balanced:
            self._server.balance.leave()

    def resume_accepting(self):
        server = self._server
        server.paused = False
        if server.started:
            server.start_accepting()
