"""A worker: serves every listener of one config on listening sockets it inherits.

Started by the arbiter as ``python -m hotproxy.process.worker`` with the validated config in an
inherited memfd, its listening sockets and a channel (process/channel.py) as inherited
descriptors. It reports ``ready`` once accepting and a ``heartbeat`` every second from the hub
(so a wedged hub stops the heartbeats). On ``drain`` it stops accepting and hands each idle
keep-alive connection back to the arbiter (``handoff``, with the descriptor) for the next
generation; on ``adopt`` it serves a connection handed over from an older generation. It exits
when draining left it without connections, on ``stop``, or when its arbiter dies.

Stats leave as a ``stats`` message every ``stats_flush_interval``, when the arbiter asks
(``stats_flush``, for an admin read) and once more as the worker stops, so that a worker that
exits cleanly loses no count.

With an overload manager, ``overload`` messages carry its actions' states (listener/overload.py).
Connection limits that hold across workers count in a table shared with the arbiter
(``--connection-counts``, listener/connection_counts.py).

The layered runtime's values come in the first message and in every ``runtime`` message after
(process/runtime_layers.py); each replaces the process's snapshot whole (hotproxy.runtime).
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import socket as _stdsocket
import sys

import gevent
from gevent import socket
from gevent.event import Event

from ..accesslog.sink import AccessLogSink
from ..deadlines import Deadlines
from ..config.listener import HttpConnectionManager as HcmConfig
from ..config.overload import OverloadManager, runtime_limits_connections
from ..listener.connection_counts import WorkerCounts
from ..listener.manager import ActiveListener, accept_pool
from ..listener.overload import WorkerOverload
from ..runtime import install as install_runtime
from ..server_state import ServerState
from ..stats.shipper import StatsShipper
from ..tracing.local_info import LOCAL as tracing_local_info
from ..upstream.cluster_manager import ClusterManager
from . import breakers, ratelimit_buckets
from .channel import Channel, ChannelClosed
from .logs import LogOptions, set_level, setup_logging
from .messages import (ACCEPT, ADOPT, CLOSE_CONNECTIONS, DNS_HOSTS, DRAIN, EJECTED, HANDOFF, HEALTH,
                       HEALTHCHECK, HEALTH_ALL, HEARTBEAT, LOG_LEVEL, OUTCOMES, OVERLOAD, READY,
                       RUNTIME, STATS, STATS_FLUSH, STOP, STOP_LISTENERS, STOPPED_ACCEPTING, XDS_ENDPOINTS,
                       XDS_ROUTES, XDS_SECRETS)
from .worker_xds import WorkerSecrets, apply_endpoints, apply_routes
from .ticket_key import tls_ticket_key

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 1.0
#: Histogram values binned at a time, per histogram (about 0.4 ms), with the connections served
#: between the pieces: a busy second's values (16,000 requests) binned at once stalled every
#: connection for about 10 ms, once a second, and that made the p99 (docs/benchmarks.md).
FOLD_PIECE = 2000
FOLD_PAUSE_S = 0.001


class Worker:
    def __init__(self, bootstrap, listen_sockets, channel, name, access_log_sink, counts=None,
                 first_message=None, xds=None):
        """``listen_sockets`` maps listener names to bound, listening stdlib sockets; ``counts``
        is the shared connection-count table when the config counts connections.
        ``first_message``: the arbiter's first (HEALTH_ALL), read before the config was parsed;
        ``xds``: the worker's WorkerSecrets (process/worker_xds.py)."""
        self.bootstrap = bootstrap
        self.first_message = first_message
        self.xds = xds
        self.name = name
        self.channel = channel
        if counts is not None:
            ratelimit_buckets.share(counts)     # the local rate limits' buckets live there
        self.cluster_manager = ClusterManager(
            bootstrap.clusters, (lambda name: breakers.counter_factory(counts, name)) if counts else None)
        self.deadlines = Deadlines()
        self.server_state = ServerState(bootstrap.node_cluster)
        tracing_local_info.set(bootstrap.node_id, bootstrap.node_cluster,
                               getattr(bootstrap, "node_zone", ""))
        pool = accept_pool()
        overload, runtime_limit = bootstrap.overload_manager, runtime_limits_connections(bootstrap)
        if overload is not None or runtime_limit:
            self.overload = WorkerOverload(overload or OverloadManager(), counts, runtime_limit)
        else:
            self.overload = None
        self.listeners = {
            config.name: ActiveListener(config, socket.socket(fileno=listen_sockets[config.name].detach()),
                                        self.cluster_manager, self.deadlines, access_log_sink,
                                        self.server_state, pool, self.overload, counts, tls_ticket_key())
            for config in bootstrap.listeners
            if config.name in listen_sockets  # not a listener drained by the operator
        }
        for listener_name, listener in self.listeners.items():
            for terminal in listener.terminals():
                if hasattr(terminal, "hand_off"):
                    terminal.hand_off = self._hand_off_to(listener_name)
        self.access_log_sink = access_log_sink
        self.shipper = self._declare_stats()
        self.cluster_manager.report_outcomes(self._send_outcomes)
        self.draining = False
        self.moving = frozenset()   # the listeners whose connections a drain moves on
        self.accepting = False
        self._stopped = Event()

    def _declare_stats(self):
        """Every stat this worker keeps, under Envoy's names."""
        shipper = StatsShipper(keep_samples=bool(self.bootstrap.stats_sinks))  # statsd sends each value
        http2 = []
        for listener in self.listeners.values():
            config = listener.config
            shipper.add(f"listener.{config.stat_name}.", listener.stats)
            for prefix, stats in listener.stat_sets():
                shipper.add(prefix, stats)
            for terminal in listener.terminals():
                filter_config = terminal.config
                if isinstance(filter_config, HcmConfig):
                    prefix = f"http.{filter_config.stat_prefix}."
                    shipper.add(prefix, terminal.stats)
                    shipper.add_listener_http(f"listener.{config.stat_name}.{prefix}", terminal.stats)
                    shipper.add("http1.", terminal.http1_stats)
                    if terminal.http2_stats is not None and terminal.http2_stats not in http2:
                        http2.append(terminal.http2_stats)   # one for every listener: Envoy's
                        shipper.add("http2.", terminal.http2_stats)
                    for filter_prefix, filter_stats in terminal.stat_sets():
                        shipper.add(filter_prefix, filter_stats)
                    shipper.add_histogram(prefix + "downstream_rq_time", terminal.rq_time)
                else:
                    shipper.add(f"tcp.{filter_config.stat_prefix}.", terminal.stats)
        for cluster in self.cluster_manager.clusters.values():
            shipper.add_cluster(cluster)
        shipper.add("access_log.", self.access_log_sink.stats)
        if self.overload is not None:
            for prefix, stats in self.overload.stat_sets():
                shipper.add(prefix, stats)
        return shipper

    def ship_stats(self, request_id=None):
        message = {"t": STATS, **self.shipper.collect()}
        if request_id is not None:
            message["id"] = request_id
        try:
            self.channel.send(message)
        except OSError:
            pass  # the arbiter is gone: nobody left to count for

    def start(self):
        self.deadlines.start()
        self.cluster_manager.start()
        if not (self.first_message or {}).get("hold_accepting"):
            self.start_accepting()

    def start_accepting(self):
        """Accept on the listening sockets (at once, or once the generation's reload probe
        passed: until then only adopted connections, the probe's, are served)."""
        if not self.accepting and not self.draining:
            self.accepting = True
            for listener in self.listeners.values():
                listener.start()

    def run(self):
        """Start, then serve until stopped (SIGTERM/SIGINT, ``stop``, or drained)."""
        gevent.signal_handler(signal.SIGTERM, self.stop)
        gevent.signal_handler(signal.SIGINT, self.stop)
        if self.first_message is not None:      # hosts, health, routes: known before serving
            self._dispatch(self.first_message, [])
        self.start()
        gevent.spawn(self._read_channel)
        gevent.spawn(self._heartbeat)
        self.ship_stats()  # declares every name, at zero
        gevent.spawn(self._ship_stats_periodically)
        # What the worker built to serve (config, routes, imported code) lives as long as it
        # does. Out of the collector's reach, a full collection scans only what serving made,
        # well under a millisecond, where scanning everything stalled the connections ~11 ms.
        gc.freeze()
        self.channel.send({"t": READY, "pid": os.getpid()})
        self._stopped.wait()

    def stop(self):
        if self._stopped.is_set():
            return
        for listener in self.listeners.values():
            listener.stop_accepting()
        self.access_log_sink.flush()
        self.ship_stats()
        self.cluster_manager.stop()
        self.deadlines.stop()
        self._stopped.set()

    def drain(self, move_to, drain_time, immediate):
        """Stop accepting, and tell the arbiter so (each time it asks). Connections of listeners
        named in ``move_to`` (those the next generation serves) move there; the others close
        over ``drain_time``."""
        if not self.draining:
            self.draining = True
            self.moving = frozenset(move_to)
            log.info("%s: draining", self.name)
            for name, listener in self.listeners.items():
                listener.drain(name in move_to, drain_time, immediate)
            gevent.spawn(self._exit_when_empty)
        try:
            self.channel.send({"t": STOPPED_ACCEPTING})
        except OSError:
            pass  # the arbiter is gone

    def close_connections_of(self, names, drain_time):
        """Admin /drain_listeners?graceful: the HTTP connections of these listeners close over
        ``drain_time`` (each after a response saying ``Connection: close``), while the listeners
        still accept. The worker keeps serving: this is no exit."""
        for name in names:
            listener = self.listeners.get(name)
            if listener is not None:
                for terminal in listener.terminals():
                    if hasattr(terminal, "drain"):
                        terminal.drain(False, drain_time, False)

    def stop_listeners(self, names):
        """Admin /drain_listeners: these listeners accept no more; their connections run on."""
        for name in names:
            listener = self.listeners.get(name)
            if listener is not None:
                listener.stop_accepting()

    def _exit_when_empty(self):
        while any(listener.active_connections for listener in self.listeners.values()):
            gevent.sleep(0.05)
        log.info("%s: drained", self.name)
        self.stop()

    def _hand_off_to(self, listener_name):
        def hand_off(sock):
            self.channel.send({"t": HANDOFF, "listener": listener_name}, [sock.fileno()])
        return hand_off

    def _adopt(self, listener_name, fd):
        sock = socket.socket(fileno=fd)
        listener = self.listeners.get(listener_name)
        if listener is None or self.draining:
            # Moved here just as this generation began to drain: on to the next, when this
            # listener's connections move (the arbiter hands it to the newest generation).
            try:
                if listener is not None and listener_name in self.moving:
                    self._hand_off_to(listener_name)(sock)
            except OSError:
                pass
            finally:
                sock.close()
            return
        try:
            address = sock.getpeername()
        except OSError:
            sock.close()  # the client left while the connection was in transit
            return
        listener.adopt(sock, address)

    def _send_outcomes(self, cluster_name, hosts):
        try:
            self.channel.send({"t": OUTCOMES, "cluster": cluster_name, "hosts": hosts})
        except OSError:
            pass  # the arbiter is gone

    def _read_channel(self):
        channel = self.channel
        while True:
            try:
                message, fds = channel.recv()
            except (ChannelClosed, OSError):
                log.error("%s: the arbiter is gone; stopping", self.name)
                return self.stop()
            if self._dispatch(message, fds) == STOP:
                return None

    def _dispatch(self, message, fds):
        kind = message.get("t")
        if kind == ADOPT and fds:
            self._adopt(message["listener"], fds[0])
            return None
        for fd in fds:
            os.close(fd)
        if kind == HEALTH:
            self.cluster_manager.set_health(message["cluster"], message["healthy"],
                                            message.get("excluded", ()))
        elif kind == HEALTH_ALL:
            if "runtime" in message:     # the runtime's values, before the first request
                install_runtime(message["runtime"])
            apply_routes(self.listeners.values(), message.get(XDS_ROUTES) or {})
            apply_endpoints(self.cluster_manager, message.get(XDS_ENDPOINTS) or {})
            for name, entries in message.get("dns", {}).items():    # the hosts, then their health
                self.cluster_manager.set_resolved(name, entries)
            for name, health in message["clusters"].items():
                self.cluster_manager.set_health(name, health["healthy"], health.get("excluded", ()))
            for name, hosts in message.get("ejected", {}).items():
                self.cluster_manager.set_ejected(name, hosts)
        elif kind == XDS_ROUTES:
            apply_routes(self.listeners.values(), message["routes"])
        elif kind == XDS_ENDPOINTS:
            apply_endpoints(self.cluster_manager, message["endpoints"])
        elif kind == XDS_SECRETS:
            self.xds.rotate(self, message["secrets"])
        elif kind == DNS_HOSTS:
            self.cluster_manager.set_resolved(message["cluster"], message["hosts"])
        elif kind == EJECTED:
            self.cluster_manager.set_ejected(message["cluster"], message["hosts"])
        elif kind == STATS_FLUSH:
            self.fold_histograms()
            self.ship_stats(message.get("id"))
        elif kind == HEALTHCHECK:
            self.server_state.health_check_failed = message["failed"]
        elif kind == OVERLOAD:
            if self.overload is not None:
                self.overload.apply(message["actions"])
        elif kind == CLOSE_CONNECTIONS:
            self.close_connections_of(message["listeners"], message["drain_time"])
        elif kind == STOP_LISTENERS:
            self.stop_listeners(message["listeners"])
        elif kind == LOG_LEVEL:
            set_level(message["level"], message.get("logger"))
        elif kind == RUNTIME:
            install_runtime(message["values"])
        elif kind == DRAIN:
            self.drain(set(message.get("move", ())), message.get("drain_time", 0.0),
                       message.get("immediate", False))
        elif kind == ACCEPT:
            self.start_accepting()
        elif kind == STOP:
            self.stop()
            return STOP
        return None

    def _ship_stats_periodically(self):
        interval = self.bootstrap.stats_flush_interval
        while True:
            gevent.sleep(interval)
            self.fold_histograms()
            self.ship_stats()

    def fold_histograms(self):
        """The histogram values recorded so far into bins, FOLD_PIECE at a time."""
        while self.shipper.fold(FOLD_PIECE):
            gevent.sleep(FOLD_PAUSE_S)

    def _heartbeat(self):
        while True:
            gevent.sleep(HEARTBEAT_INTERVAL_S)
            self.fold_histograms()  # this second's histogram values into bins (bounded)
            try:
                self.channel.send({"t": HEARTBEAT})
            except OSError:
                return


def _argument_parser():
    parser = argparse.ArgumentParser(prog="python -m hotproxy.process.worker")
    parser.add_argument("--config-fd", type=int, required=True, help="validated config (memfd)")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--listen-fd", action="append", default=[], metavar="NAME=FD")
    parser.add_argument("--arbiter-pid", type=int, required=True)
    parser.add_argument("--access-log-fd", type=int, required=True)
    parser.add_argument("--title", default="hotproxy: worker")
    parser.add_argument("--connection-counts", metavar="FD:SLOT", help="shared connection counts (memfd)")
    LogOptions.add_arguments(parser)
    return parser


#: built at import: a worker the zygote forks finds it built (about 0.7 ms of each start)
_ARGUMENTS = _argument_parser()


def main(argv=None):
    args = _ARGUMENTS.parse_args(sys.argv[1:] if argv is None else argv)
    from .procutil import die_with_parent, ignore_operator_signals, set_title
    die_with_parent(args.arbiter_pid)
    ignore_operator_signals()
    set_title(args.title)
    setup_logging(LogOptions.from_args(args))
    # pread: every worker of a generation shares this memfd's file offset
    text = os.pread(args.config_fd, os.fstat(args.config_fd).st_size, 0).decode()
    os.close(args.config_fd)
    channel = Channel.from_fd(args.channel_fd)
    # first on the channel: what the arbiter found out (health, DNS, xDS), SDS secrets included,
    # which the config's TLS contexts may name
    first_message, fds = channel.recv()
    for fd in fds:
        os.close(fd)
    xds = WorkerSecrets(text, first_message.get(XDS_SECRETS) or {})
    bootstrap = xds.parse()
    sockets = {}
    for item in args.listen_fd:
        name, _, fd = item.rpartition("=")
        sockets[name] = _stdsocket.socket(fileno=int(fd))
    sink = AccessLogSink(_stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_DGRAM, fileno=args.access_log_fd))
    counts = (WorkerCounts.from_args(args.connection_counts, first_message.get("connection_counters", {}))
              if args.connection_counts else None)
    Worker(bootstrap, sockets, channel, args.title, sink, counts, first_message, xds).run()
    return 0


if __name__ == "__main__":
    from .procutil import exit_now
    exit_now(main())
