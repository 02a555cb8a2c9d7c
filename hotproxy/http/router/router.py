"""The router filter: one request's exchange with an upstream host.

``start`` picks the cluster and host, takes a pooled connection and queues the encoded request
head; ``send_body`` queues body bytes; ``flush`` sends what is queued (the connection manager
calls it once per batch of received bytes, so a head and a small body leave in one send);
``finish`` ends the request and relays the response downstream as it arrives, chunk by chunk.
Memory stays bounded in both directions: nothing is read from one side before the previous piece
went out on the other.

A pooled connection the upstream closed while it sat idle shows up as a reset or an EOF before any
response byte; a request that had not sent body bytes yet is then sent once more on a fresh
connection (it cannot have been processed). That is part of one attempt: a route with a retry
policy (or attempt counts) makes its attempts in ``retrying.Retries`` instead, which keeps the
request body for a replay and decides before any response byte goes downstream.
"""
from __future__ import annotations

from socket import timeout as SocketTimeout

from ...errors import ProtocolError
from ...upstream.cluster import HASHING_POLICIES
from ...upstream.connect import ConnectFailure
from ...upstream.http2_request import Request as H2Request
from ...upstream.request import give_back, take_connection
from .. import local_reply
from ..http1.serialize import chunk, request_head
from .local_failure_stats import charge_local_reply
from .trailers import request_end
from ...sockio import send_all
from .downstream_head import set_header as _set_header
from . import h2_exchange
from .outcomes import report, report_host
from .retry import UpstreamReset
from .mirroring import Mirrors
from .relay import relay_response
from .spliced_body import request_rest, request_spliceable
from .retrying import Retries

#: x-envoy-expected-rq-timeout-ms by route timeout, made once (a few: gRPC-timed routes' vary)
_EXPECTED_TIMEOUTS = {}


def _expected_timeout(timeout):
    header = (b"x-envoy-expected-rq-timeout-ms", b"%d" % int(timeout * 1000))
    if len(_EXPECTED_TIMEOUTS) < 64:
        _EXPECTED_TIMEOUTS[timeout] = header
    return header


class Router:
    """One per connection manager: ``stats`` are its (no_cluster), ``stream_idle_timeout`` the
    idle timeout of routes without their own; ``logging`` keeps attempt counts for the logs."""

    def __init__(self, cluster_manager, server_name, stats, stream_idle_timeout, logging):
        self.clusters = cluster_manager
        self.server_name = server_name
        self.stats = stats
        self.stream_idle_timeout = stream_idle_timeout
        self._buffers = []  # free response buffers (each in use by one exchange at a time)
        self.retries = Retries(self)
        self.retries.attempt_counts = {} if logging else None
        #: requests of retrying routes whose body still arrives (see retrying.Replay)
        self.replays = self.retries.replays
        self.mirrors = Mirrors(self)
        self.mirroring = self.mirrors.copies  # requests whose shadow copies are in the making
        self.h2 = {}    # stream -> h2_exchange.Exchange, for requests to HTTP/2 upstreams
        h2_exchange.attach_pools(cluster_manager)
        #: the connection manager's tracing.Tracer, or None
        self.tracer = None

    def start(self, stream, conn, target, headers):
        route = stream.route
        name = route.cluster_name
        if name is None:
            name, stream.weighted = route.pick_cluster(headers)
        cluster = self.clusters.get(name)     # None for no name
        if cluster is None:
            self.stats.no_cluster += 1
            return conn.local_reply(stream, 503, b"", flag="NC")
        stream.cluster = cluster
        if self.tracer is not None:
            self.tracer.upstream(stream, name, headers)
        hash_key = self._extras(route, stream, conn, cluster, target, headers) if route.extras else None
        if cluster.http2 is not None and cluster.http2.takes(stream):
            return h2_exchange.start(self, stream, conn, cluster, target, headers, hash_key)
        if route.retry is not None:
            return self.retries.start(stream, conn, cluster, target, headers, hash_key)
        host = cluster.pick_host(hash_key, conn.sock, headers)
        if host is None:
            charge_local_reply(cluster, 503, "UH")
            return conn.local_reply(stream, 503, local_reply.NO_HEALTHY_UPSTREAM, flag="UH")
        stream.info.upstream_host = host.label
        pool = host.pool if not route.high_priority else cluster.high.pool(host)
        if cluster.options_per_request:     # before the Host is rewritten, as in Envoy
            pool = cluster.pool_for_request(host, stream.head.host, headers, conn, route.high_priority)
        if route.rewrites_path:
            target = route.rewrite_path(target)
        if route.host_rewrite_literal is not None:
            _set_header(headers, b"host", route.host_rewrite_literal)
        elif route.auto_host_rewrite and host.hostname:
            _set_header(headers, b"host", host.hostname.encode())
        timeout = route.timeout
        if timeout:
            header = _EXPECTED_TIMEOUTS.get(timeout)
            if header is None:
                header = _expected_timeout(timeout)
            headers.append(header)
        if route.has_request_mutations:
            headers = route.mutate_request(headers, stream.weighted, conn)
        if stream.chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        request_bytes = stream.request_bytes = request_head(stream.head.method, target, headers)
        try:
            stream.upstream = take_connection(cluster, host, pool)
        except ConnectFailure as failure:
            # Never an upstream request (Envoy counts upstream_rq_total once a connection is
            # had), but a 503 of the cluster's all the same.
            charge_local_reply(cluster, 503)
            body = local_reply.CONNECT_ERROR + failure.reason.encode()
            if failure.reason == "overflow":
                return conn.defer_reply(stream, 503, body, "UO", local_reply.OVERFLOW_HEADERS)
            return conn.defer_reply(stream, 503, body, "UF")
        cluster.stats.upstream_rq_total += 1
        host.stats.rq_total += 1
        stream.out.append(request_bytes)

    def _extras(self, route, stream, conn, cluster, target, headers):
        """Start the route's mirroring; its hash key when the cluster hashes, else None."""
        if route.mirrors is not None:
            self.mirrors.start(stream, headers, self.retries.connection_buffer_limit)
        if route.request_hash is not None and cluster.config.lb_policy in HASHING_POLICIES:
            return route.request_hash.key(stream, headers, target, conn)
        return None

    def send_body(self, stream, data):
        piece = chunk(data) if stream.chunked else data
        stream.out.append(piece)
        if self.replays:
            self.retries.keep(stream, piece, len(data))
        if self.mirroring:
            self.mirrors.keep(stream, piece, len(data))

    def flush(self, stream):
        """Send the queued request bytes. Raises ``UpstreamReset``."""
        if stream.upstream.__class__ is H2Request:
            return h2_exchange.flush(self, stream)
        out = stream.out
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        stream.buffered = len(data)  # held until the upstream takes it (reset_high_memory_stream)
        try:
            send_all(stream.upstream.sock, data)
        except OSError:
            if stream.body_sent or not self._reconnect(stream):
                raise UpstreamReset("connection termination") from None
            if stream.head_sent:
                data = stream.request_bytes + data
            send_all(stream.upstream.sock, data)
        finally:
            stream.buffered = 0
        stream.body_sent = stream.head_sent or len(data) > len(stream.request_bytes)
        stream.head_sent = True

    def send_pending(self, stream, conn):
        """``flush`` for a request still arriving: an upstream failure is answered downstream.
        Then a long enough rest of a Content-Length body is spliced (spliced_body.py), and
        the request's END waits in ``conn.decoder.events`` for the connection to act on."""
        try:
            self.flush(stream)
        except (UpstreamReset, OSError):
            return self._upstream_lost(stream, conn)
        if request_spliceable(self, stream, conn):
            try:
                request_rest(stream, conn)  # a client's failure (OSError) is the connection's
            except UpstreamReset:
                self._upstream_lost(stream, conn)

    def _upstream_lost(self, stream, conn):
        if self.replays:
            self.retries.forget(stream)
        report(stream, "reset")
        self._fail(stream, conn, 503, local_reply.CONNECT_ERROR + b"connection termination", "UC")

    def finish(self, stream, conn):
        """The downstream request is complete: send the rest and relay the response."""
        if self.mirroring:
            self.mirrors.send(stream)
        if stream.upstream.__class__ is H2Request:
            return h2_exchange.finish(self, stream, conn)
        if self.replays:
            replay = self.replays.get(stream)
            if replay is not None:
                return self.retries.finish(stream, conn, replay)
        if stream.chunked:
            stream.out.append(request_end(stream, conn))
        try:
            if stream.out:
                self.flush(stream)
            relay_response(self, stream, conn)
        except UpstreamReset as reset:
            report(stream, "reset")
            self._fail(stream, conn, 503, local_reply.CONNECT_ERROR + reset.reason.encode(), "UC")
        except (ProtocolError, OSError) as error:
            self.answer_failure(stream, conn, error)

    def answer_failure(self, stream, conn, error):
        """The reply, and the counts, for an exchange that ``error`` ended: a timeout, an
        upstream that broke the protocol, or (any other OSError) a downstream that went away
        while the response was relayed."""
        if isinstance(error, SocketTimeout):
            report(stream, "timeout")
            stream.cluster.stats.upstream_rq_timeout += 1
            if stream.upstream is not None:
                stream.upstream.pool.host.stats.rq_timeout += 1
            self._fail(stream, conn, 504, local_reply.UPSTREAM_TIMEOUT, "UT")
        elif isinstance(error, ProtocolError):
            report(stream, "reset")
            stream.cluster.stats.upstream_cx_protocol_error += 1
            self._fail(stream, conn, 502, local_reply.CONNECT_ERROR + b"protocol error", "UPE")
        else:
            self._release(stream, False)
            stream.flag("DC")
            stream.close = True

    def abort(self, stream):
        """The downstream went away mid-exchange: the upstream connection cannot be reused."""
        if self.replays:
            self.retries.forget(stream)
        if self.mirroring:
            self.mirrors.forget(stream)
        if self.h2:
            h2_exchange.forget(self, stream)
        self._release(stream, False)

    def _relay_response(self, stream, conn, attempt=None):
        """Relay the response downstream (relay.py); retrying.py and hedging.py call it too."""
        return relay_response(self, stream, conn, attempt)

    def _fail(self, stream, conn, status, body, flag):
        self._release(stream, False)
        if stream.responded:
            # The response already started: all that can be said now is an abrupt close.
            stream.flag(flag)
            stream.close = True
            return
        charge_local_reply(stream.cluster, status)
        conn.local_reply(stream, status, body, close=stream.close, flag=flag)

    def _reconnect(self, stream):
        """Replace a stale pooled connection with a fresh one. False when the connection was
        not a reused one (then the failure is real) or when connecting fails."""
        stale = stream.upstream
        if not stale.reused:
            return False
        if self.replays:
            replay = self.replays.get(stream)
            if replay is not None and replay.finishing:
                return False    # the attempt loop of retrying.Retries decides
        stale.pool.release(stale, False)
        stream.upstream = None
        try:
            stream.upstream = stale.pool.acquire_fresh()
        except ConnectFailure as failure:
            if failure.reason != "overflow":
                report_host(stream.cluster, stale.pool.host, "connect_failure")
            return False
        stream.cluster.stats.upstream_rq_retry += 1
        return True

    def _release(self, stream, reusable):
        upstream = stream.upstream
        if upstream is not None:
            stream.upstream = None
            give_back(stream.cluster, upstream, reusable)
