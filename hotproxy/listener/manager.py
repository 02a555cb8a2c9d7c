"""A worker's active listeners: one accept loop per listener, handing each connection to the
listener's network filter chain.

Every listener of a worker accepts into one bounded pool (``accept_pool``): when it is full,
the listeners stop accepting and new connections wait in the kernel's backlog until one ends,
rather than failing on the file-descriptor limit (each proxied connection needs two).
"""
from __future__ import annotations

import logging
import os
import resource

import gevent
from gevent import socket
from gevent.pool import Pool
from gevent.server import StreamServer

from ..config.listener import HttpConnectionManager as HcmConfig
from ..config.listener import TcpProxy as TcpProxyConfig
from ..http.conn_manager import HttpConnectionManager
from ..network.tcp_proxy import TcpProxy
from ..server_state import ServerState
from ..stats.schema import ListenerStats

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


class ActiveListener:
    def __init__(self, config, listen_socket, cluster_manager, deadlines, access_log_sink=None,
                 server_state=None, pool=None):
        self.config = config
        self.stats = ListenerStats()
        self.filter = build_terminal_filter(config.filter_chains[0].filters[-1], cluster_manager,
                                            deadlines, access_log_sink, server_state or ServerState())
        # per_connection_buffer_limit_bytes bounds what one read may bring in
        self.filter.recv_size = min(self.filter.recv_size, config.per_connection_buffer_limit_bytes)
        self._server = StreamServer(listen_socket, self._handle, spawn="default" if pool is None else pool)

    def _handle(self, sock, address):
        stats = self.stats
        stats.downstream_cx_total += 1
        stats.downstream_cx_active += 1
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.filter.serve(sock, address)
        except Exception:  # a bug must cost one connection, never the worker
            log.exception("listener %s: connection from %s failed", self.config.name, address)
        finally:
            stats.downstream_cx_active -= 1
            stats.downstream_cx_destroy += 1

    @property
    def active_connections(self):
        return self.stats.downstream_cx_active

    def start(self):
        self._server.start()

    def adopt(self, sock, address):
        """Serve a connection accepted by an earlier generation, as if just accepted here."""
        gevent.spawn(self._adopted, sock, address)

    def _adopted(self, sock, address):
        try:
            self._handle(sock, address)
        finally:
            sock.close()

    def drain(self, move, drain_time, immediate):
        """Stop accepting (closing only this process's duplicate of the listening socket, never
        shutting it down: the arbiter and the next generation keep accepting on it) and let the
        filter wind down its connections: moved to the next generation (``move``) or closed over
        ``drain_time``. TCP proxy sessions run on until they end or the generation is stopped."""
        self.stop_accepting()
        drain = getattr(self.filter, "drain", None)
        if drain is not None:
            drain(move, drain_time, immediate)

    def stop_accepting(self):
        """Close this process's duplicate of the listening socket (never ``shutdown``)."""
        self._server.close()
