"""HTTP connection manager: Envoy's HCM network filter for HTTP/1.1 downstream connections.

``HttpConnectionManager`` is built once per listener from its typed config, with its route
table, its HTTP filters and the router; ``serve`` runs one downstream connection
(downstream.py) in its own greenlet, and ``drain`` ends them when the generation goes.
"""
from __future__ import annotations

import random
import time

import gevent

from ..accesslog.loggers import AccessLoggers
from ..deadlines import NEVER
from ..server_state import ServerState
from ..stats.histogram import Recorder
from ..stats.schema import DOWNSTREAM_RQ_CLASSES, Http1Stats, HttpStats, count_status_class
from . import xfcc
from .connection_ending import move_times
from .control import OverloadReset, Release
from .downstream import RECV_SIZE, DownstreamConnection
from .filters.api import FilterContext
from .http2.downstream import Http2Connection, opens_with_preface, options_for, worker_http2_stats
from .filters.registry import filter_factories
from .request_normalization import RequestNormalizer
from .route_filters import route_filters
from .router.route_table import RouteTable
from .router.router import Router
from .stream_duration import StreamDurationReached, stream_limits

class HttpConnectionManager:
    def __init__(self, config, cluster_manager, deadlines, access_log_sink=None, server_state=None):
        self.config = config
        self.server = server_state or ServerState()
        #: the health_check filter's config when it is one of the filters
        self.health_check = config.health_check
        self.deadlines = deadlines
        self.access_logs = AccessLoggers(config.access_log, access_log_sink, tcp=False)
        self.logging = bool(self.access_logs)
        self.stats = HttpStats()
        self.http1_stats = Http1Stats()
        #: None unless the config asks for a normalization: the request path pays one test
        self.normalizer = RequestNormalizer.from_config(config)
        #: the worker's overload manager (listener/overload.py) when it has an HTTP action
        #: (stop_accepting_requests, disable_http_keepalive); else None, one test per request
        self.overload = None
        self.rq_time = Recorder()  # downstream_rq_time, ms
        self.route_table = RouteTable(config.route_config)
        #: max_stream_duration's timers (stream_duration.py): None unless it or a route sets one
        self.stream_limits = stream_limits(config.max_stream_duration, config.route_config,
                                           deadlines)
        self.cluster_manager = cluster_manager
        self.server_name = config.server_name.encode()
        self.use_remote_address = config.use_remote_address
        self.xff_num_trusted_hops = config.xff_num_trusted_hops
        self.generate_request_id = config.generate_request_id
        self.max_headers_bytes = config.max_request_headers_kb * 1024
        self.idle_timeout = config.idle_timeout or None
        self.stream_idle_timeout = config.stream_idle_timeout or None
        self.request_headers_timeout = config.request_headers_timeout
        self.request_timeout = config.request_timeout
        self.client_cert_details = xfcc.CertDetails(**(config.client_cert_details or {}))
        #: read size per recv; the listener lowers it to its per_connection_buffer_limit_bytes
        self.recv_size = RECV_SIZE
        self.connections = set()
        #: set by the worker: ``hand_off(sock)`` passes an idle connection to the next generation
        self.hand_off = None
        self.draining = False
        #: while draining without a next generation to move to (the listener was removed, or the
        #: proxy shuts down), connections close over the drain time instead: see ``drain``
        self.closing = False
        #: tracing's Tracer, None when the config has no ``tracing``: then the request path pays
        #: one test of it (router.py); with it, every stream is logged, for its span's end
        self.tracer = None
        if config.tracing is not None:
            self._trace(cluster_manager)
        self.router = Router(cluster_manager, self.server_name, self.stats, self.stream_idle_timeout,
                             self.logging)
        self.router.tracer = self.tracer
        #: (factory, disabled) per HTTP filter besides the router, in order; empty: none
        self.filters = filter_factories(config, FilterContext(
            cluster_manager, f"http.{config.stat_prefix}.", self.server, deadlines,
            config.route_config))
        #: common_http_protocol_options' connection limits (0: none)
        self.max_requests_per_connection = config.max_requests_per_connection
        self.max_connection_duration = config.max_connection_duration
        #: upgrade type (lower-case) → enabled, from upgrade_configs (http/upgrade.py)
        self.upgrades = {kind.encode(): enabled for kind, enabled, _ in config.upgrade_configs}
        #: HTTP/2's options when the codec may speak it (AUTO or HTTP2), else None
        self.codec_type = config.codec_type
        self.http2_options = options_for(config) if config.codec_type != "HTTP1" else None
        self.http2_stats = worker_http2_stats() if self.http2_options is not None else None
        self._default_filters = tuple(factory for factory, disabled in self.filters
                                      if not disabled)
        self._filters_by_table = {}     # id(typed_per_filter_config table) → (table, factories)
        #: id(a route's per_filter table, or of None) → its RouteFilters (``chain_for``), which
        #: run_filters looks up itself (and checks its ``table``)
        self.chains = {}

    def _trace(self, cluster_manager):
        # imported here: a worker whose managers trace nothing never loads tracing (its
        # modules would only add to what the garbage collector walks)
        from ..tracing.logged import TracedLogs
        from ..tracing.tracer import Tracer
        self.tracer = Tracer(self.config, cluster_manager)
        self.access_logs = TracedLogs(self.access_logs, self.tracer)
        self.logging = True

    def serve(self, sock, address, tls=None):
        """Serve the connection ``sock`` from ``address``; ``tls`` is what its handshake
        established (listener/tls_transport.py's DownstreamTls), None for plain text."""
        stats = self.stats
        stats.downstream_cx_total += 1
        stats.downstream_cx_active += 1
        if tls is not None:
            stats.downstream_cx_ssl_total += 1
            stats.downstream_cx_ssl_active += 1
        http2 = self.codec_type == "HTTP2" or (tls is not None and tls.alpn == "h2")
        if not http2 and self.codec_type == "AUTO" and tls is None and not self.draining:
            http2 = self._opens_with_preface(sock)
            if http2 is None:
                stats.downstream_cx_active -= 1
                stats.downstream_cx_destroy += 1
                return
        connection = (Http2Connection if http2 else DownstreamConnection)(self, sock, address, tls)
        self.deadlines.watch(connection)
        self.connections.add(connection)
        try:
            connection.run()
        except (OverloadReset, StreamDurationReached):
            pass  # it landed past the stream it was meant for: the connection ends all the same
        finally:
            if self.stream_limits is not None:
                self.stream_limits.disarm(connection)
            self.connections.discard(connection)
            self.deadlines.unwatch(connection)
            if connection.__class__ is DownstreamConnection:
                connection.set_deadline = None  # its partial refers back to it: no cycle left
            stats.downstream_cx_active -= 1
            stats.downstream_cx_destroy += 1
            if tls is not None:
                stats.downstream_cx_ssl_active -= 1

    def _opens_with_preface(self, sock):
        """Plain text with codec_type AUTO: whether the client opens with HTTP/2's preface (h2c
        with prior knowledge), peeked at, not read. None when it sent nothing before the idle
        timeout, went away, or was moved to the next generation (or closed) by a drain while it
        had sent nothing yet, as an idle HTTP/1.1 connection is."""
        waiting = _FirstBytes(sock)
        self.connections.add(waiting)
        self.deadlines.watch(waiting)
        try:
            return opens_with_preface(sock, self.idle_timeout)
        except OSError:
            return None
        except Release:
            if self.hand_off is not None:
                try:
                    self.hand_off(sock)
                    return None
                except OSError:
                    pass
            sock.close()
            return None
        finally:
            self.connections.discard(waiting)
            self.deadlines.unwatch(waiting)

    def drain(self, move=True, drain_time=0.0, immediate=False):
        """Stop serving. With ``move``, the connections move to the next generation one at a time,
        each at its time from ``move_times``: an idle one then, a busy one at the end of the
        exchange it is in then (see ``DownstreamConnection.run``); TLS ones stay and close after
        their next response (``linger``). Without ``move``, each
        connection gets a close time within ``drain_time`` (all at once when ``immediate``, spread
        evenly otherwise, like Envoy's gradual drain): from then on its responses carry
        ``Connection: close``, and if it sits idle it is closed, never while a request is on it."""
        self.draining = True
        if not move:
            self.hand_off = None
            self.closing = True
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_at = now if immediate else now + random.uniform(0, drain_time)
                if connection.idle:
                    connection.deadline = min(connection.deadline, connection.close_at)
                    self.deadlines.unpark(connection)
            return
        movable = []
        for connection in list(self.connections):
            if connection.tls is None:
                movable.append(connection)
            else:
                connection.linger()
        times = move_times(time.monotonic(), len(movable))
        for connection, move_at in zip(movable, times):
            connection.move_at = move_at
        if movable:
            gevent.spawn(self._move_in_turn, movable, times)

    def _move_in_turn(self, connections, times):
        """Interrupt each connection that is idle at its move time; a busy one moves at its next
        message boundary after that time (DownstreamConnection.run)."""
        for connection, move_at in zip(connections, times):
            delay = move_at - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            if connection in self.connections:  # else it ended meanwhile
                connection.release_if_idle()

    def close_times(self):
        """(close_at, max_duration_at) of a connection opening now. ``close_at``: when it starts
        to close (a closing drain's connection serves one exchange; max_connection_duration
        drains it); ``max_duration_at``: when max_connection_duration does (NEVER: no limit)."""
        now = time.monotonic()
        close_at = now if self.closing else NEVER
        max_duration_at = NEVER
        if self.max_connection_duration:
            max_duration_at = now + self.max_connection_duration
            close_at = min(close_at, max_duration_at)
        return close_at, max_duration_at

    def filters_for(self, route):
        """The factories of the filters that see a stream of ``route``, in order. A route's
        typed_per_filter_config entry for a filter decides whether it runs (a FilterConfig's
        ``disabled``; any other entry turns it on), else the filter's own ``disabled``.
        Worked out once a table: the route table holds few of them."""
        table = route.per_filter if route is not None else None
        if table is None:
            return self._default_filters
        found = self._filters_by_table.get(id(table))
        if found is None or found[0] is not table:
            found = self._filters_by_table[id(table)] = (table, tuple(
                factory for factory, disabled in self.filters
                if not (disabled if factory.name not in table
                        else getattr(table[factory.name], "disabled", False))))
        return found[1]

    def chain_for(self, route):
        """The RouteFilters of ``route``'s per_filter table, learnt on first use."""
        table = route.per_filter if route is not None else None
        chain = self.chains[id(table)] = route_filters(self.filters_for(route), route)
        return chain

    def set_route_config(self, route_config):
        """RDS sent a new version of this manager's route table: streams routed from here on
        use it; those already routed keep their route. Compiled before the swap, which is one
        assignment between two streams' matches."""
        table = RouteTable(route_config)
        limits = stream_limits(self.config.max_stream_duration, route_config, self.deadlines)
        if self.stream_limits is not None:
            if limits is not None:
                limits.timers = self.stream_limits.timers   # the running streams keep theirs
            else:
                self.stream_limits.clear()                  # none is left to time anything
        self.route_table = table
        self.stream_limits = limits
        self._filters_by_table.clear()
        self.chains.clear()

    def stat_sets(self):
        """The HTTP filters' (prefix, stats) pairs, and tracing's."""
        pairs = [pair for factory, _ in self.filters for pair in factory.stat_sets()]
        if self.tracer is not None:
            pairs += self.tracer.stat_sets(self.config.stat_prefix)
        return pairs

    def count_response(self, status):
        count_status_class(self.stats, DOWNSTREAM_RQ_CLASSES, status)


class _FirstBytes:
    """A plain-text connection whose first bytes have not come yet (codec_type AUTO waits for
    them to tell HTTP/2's preface): a drain moves it to the next generation, or closes it at its
    close time, as it does an idle HTTP/1.1 connection (see ``drain``)."""

    idle = True
    parked = False      # until its first bytes come it only waits: the deadline sweep may park it
    tls = None
    stream = None       # no request yet: nothing for reset_high_memory_stream to weigh

    def __init__(self, sock):
        self.sock = sock
        self.deadline = NEVER
        self.close_at = NEVER

    def release_if_idle(self):
        sock = self.sock
        sock.hub.cancel_wait(sock._read_event, Release(), False)

    def expire(self):
        """A closing drain's close time passed."""
        self.deadline = NEVER
        self.release_if_idle()
