"""A request's exchange with an HTTP/2 upstream (a cluster with ``http2_options``): what
``Router.start`` / ``flush`` / ``finish`` do for HTTP/1.1, over a stream of a multiplexed
connection (upstream/http2_pool.py).

The request goes out as HEADERS (pseudo-headers from the method, target and Host; no
connection-specific header) and DATA as its body arrives, END_STREAM with the last piece. The
response is relayed by h2_response.py, with flow control end to end.

A route with a retry policy retries here: connect failures, resets (``refused-stream`` too) and
responses its ``retry_on`` names, before any response byte went downstream, replaying the body
kept up to the buffer limit. Hedging is not done over HTTP/2: such a route retries without it.
The cluster's max_stream_duration bounds each attempt (upstream_duration.py).
"""
from __future__ import annotations

import time
from socket import timeout as SocketTimeout

import gevent

from ...deadlines import NEVER
from ...errors import ProtocolError
from ...upstream.connect import ConnectFailure
from ...upstream.http2_pool import Http2Pools, StreamEnded
from ...upstream.request import take_connection
from .. import local_reply
from ..http1.stream_client import codec_factory_for
from ..http2 import events as ev
from ..http2.client_codec import ClientCodec
from ..http2.codec import CONNECTION_SPECIFIC
from ..http2.limits import Http2Stats
from ..http2.options import Http2Options
from .attempts import RETRIED
from .local_failure_stats import charge_local_reply
from .downstream_head import set_header
from .h2_response import relay
from .h2_tunnel_heads import tunnel_request_headers
from .host_choice import pick_host
from .outcomes import report, report_host
from . import upstream_duration
from .retry import LIMIT_EXCEEDED, LOCAL_RESET, OVERFLOW, RETRY, RETRY_ON_BITS, UpstreamReset

#: request headers HTTP/2 does not carry (RFC 9113 §8.2.2); ``te: trailers`` is kept
_NOT_SENT = CONNECTION_SPECIFIC | {b"host", b"te", b"http2-settings"}
_REFUSED = "remote refused stream reset"
_REFUSED_STREAM_BIT = RETRY_ON_BITS["refused-stream"]


def attach_pools(cluster_manager):
    """Give every cluster its ``http2``: its Http2Pools when it speaks HTTP/2 upstream, else
    None (what ``Router.start`` tests). Once per worker: connection managers share them."""
    for cluster in getattr(cluster_manager, "clusters", {}).values():
        if "http2" in cluster.__dict__:
            continue
        config = cluster.config
        if config.http2_options is None:
            cluster.http2 = None
            continue
        options = Http2Options(max_headers_kb=config.max_response_headers_kb,
                               max_headers_count=config.max_response_headers_count,
                               **dict(config.http2_options))
        codec_stats = Http2Stats()
        cluster.http2 = Http2Pools(cluster, lambda: ClientCodec(options, codec_stats), ev,
                                   codec_stats, config.http2_for_http2_downstream_only,
                                   codec_factory_for(config))


class Exchange:
    """What an exchange keeps besides ``stream.upstream``: the request as sent, the body for a
    replay (None once over the limit, or without a retry policy), the retry state."""

    __slots__ = ("headers", "end_with_head", "body", "size", "limit", "state", "host_high",
                 "limit_at")

    def __init__(self, headers, end_with_head, state, limit, high):
        self.headers = headers
        self.end_with_head = end_with_head
        self.state = state
        self.body = [] if state is not None and state.enabled else None
        self.size = 0
        self.limit = limit
        self.host_high = high
        #: when the current attempt reaches the cluster's max_stream_duration (upstream_duration.py)
        self.limit_at = NEVER


def start(router, stream, conn, cluster, target, headers, hash_key):
    route = stream.route
    if route.rewrites_path:
        target = route.rewrite_path(target)
    if route.host_rewrite_literal is not None:
        set_header(headers, b"host", route.host_rewrite_literal)
    if route.timeout:
        headers.append((b"x-envoy-expected-rq-timeout-ms", b"%d" % int(route.timeout * 1000)))
    if route.has_request_mutations:
        headers = route.mutate_request(headers, stream.weighted, conn)
    head = stream.head
    stream.chunked = False          # DATA frames carry the body
    limit = router.retries.connection_buffer_limit
    if head.upgrade is not None or head.method == b"CONNECT":
        # a tunnel (h2_upstream_tunnel.py): its stream stays open for the bytes; no retries
        exchange = Exchange(tunnel_request_headers(head, target, headers, _scheme(cluster)),
                            False, None, limit, route.high_priority)
    else:
        state = None
        if route.retry is not None:
            state = route.retry.begin(head, target, cluster.stats,
                                      cluster.high if route.high_priority else cluster)
            if route.retry.buffer_limit is not None:
                limit = min(limit, route.retry.buffer_limit)
        exchange = Exchange(_request_headers(head.method, target, headers, cluster),
                            not head.has_body, state, limit, route.high_priority)
    state = exchange.state
    failure = _attempt(router, stream, conn, cluster, exchange, hash_key)
    if failure is not None:
        if state is not None:
            state.release()
        status, body, flag = failure
        charge_local_reply(cluster, status, flag)
        if flag == "UH" or not stream.head.has_body:
            return conn.local_reply(stream, status, body, flag=flag)
        return conn.defer_reply(stream, status, body, flag,
                                local_reply.OVERFLOW_HEADERS if flag == "UO" else ())
    router.h2[stream] = exchange
    return None


def _attempt(router, stream, conn, cluster, exchange, hash_key=None):
    """Pick a host, take a stream and send the request head (and the body kept so far);
    connect failures are retried as the policy says. None, or the (status, body, flag) to
    answer."""
    state = exchange.state
    while True:
        host = (pick_host(cluster, state, hash_key, conn.sock, exchange.headers)
                if state is not None else cluster.pick_host(hash_key, conn.sock, exchange.headers))
        if host is None:
            return 503, local_reply.NO_HEALTHY_UPSTREAM, "UH"
        if state is not None:
            state.attempted_hosts.append(host)
        stream.info.upstream_host = host.label
        route = stream.route
        if route.auto_host_rewrite and route.host_rewrite_literal is None and host.hostname:
            exchange.headers[2] = (b":authority", host.hostname.encode())
        try:
            stream.upstream = take_connection(cluster, host,
                                              cluster.http2.pool(host, exchange.host_high))
            cluster.stats.upstream_rq_total += 1
            host.stats.rq_total += 1
            exchange.limit_at = upstream_duration.limit_from_now(cluster)
            stream.upstream.open(exchange.headers, exchange.end_with_head)
            for piece in exchange.body or ():
                stream.upstream.send_data(piece, False)
            stream.head_sent = True
            return None
        except ConnectFailure as failure:
            reason = failure.reason
        except StreamEnded as ended:
            router._release(stream, False)
            reason = ended.reason
        if state is None or state.on_reset(OVERFLOW if reason == "overflow" else reason) is not RETRY:
            prefix = RETRIED if state is not None and state.attempts > 1 else local_reply.CONNECT_ERROR
            return 503, prefix + reason.encode(), "UO" if reason == "overflow" else "UF"
        gevent.sleep(state.backoff())


def flush(router, stream):
    """Send the queued body pieces as DATA. Raises ``UpstreamReset``."""
    out = stream.out
    data = out[0] if len(out) == 1 else b"".join(out)
    out.clear()
    exchange = router.h2.get(stream)
    if exchange is not None and exchange.body is not None:
        exchange.size += len(data)
        if exchange.size > exchange.limit:
            stream.cluster.stats.retry_or_shadow_abandoned += 1
            exchange.state.disable()
            exchange.body = None
        else:
            exchange.body.append(data)
    try:
        stream.upstream.send_data(data, False)
    except StreamEnded as ended:
        raise UpstreamReset(ended.reason) from None
    stream.body_sent = True


def finish(router, stream, conn):
    """The downstream request is complete: end it upstream and relay the response."""
    exchange = router.h2.get(stream)
    state = exchange.state if exchange is not None else None
    route = stream.route
    complete_at = time.monotonic()
    route_deadline = complete_at + route.timeout if route.timeout else NEVER
    idle = route.idle_timeout if route.idle_timeout is not None else router.stream_idle_timeout
    per_try = route.retry.per_try_timeout if state is not None else None
    if per_try is not None and route.timeout and per_try >= route.timeout:
        per_try = None      # Envoy ignores a per-try timeout that is not below the route's
    try:
        while True:
            attempt_deadline = route_deadline
            if per_try is not None:
                attempt_deadline = min(route_deadline, time.monotonic() + per_try)
            limit_at = NEVER
            try:
                if stream.upstream is None:
                    conn.set_deadline(route_deadline)
                    failure = _attempt(router, stream, conn, stream.cluster, exchange)
                    if failure is not None:
                        return router._fail(stream, conn, *failure)
                limit_at = exchange.limit_at if exchange is not None else NEVER
                if time.monotonic() >= limit_at:
                    raise SocketTimeout("timed out")    # it passed while the body arrived
                if stream.out:
                    flush(router, stream)
                if exchange is not None and not exchange.end_with_head:
                    stream.upstream.send_data(b"", True)
                if relay(router, stream, conn, state, min(attempt_deadline, limit_at), idle):
                    return None
            except (StreamEnded, UpstreamReset) as ended:
                reason = ended.reason
                upstream = stream.upstream
                if upstream is not None:
                    report_host(stream.cluster, upstream.pool.host, "reset")
                router._release(stream, False)
                if not _retries_reset(state, stream, reason):
                    report(stream, "reset")
                    prefix = RETRIED if state is not None and state.attempts > 1 else local_reply.CONNECT_ERROR
                    if reason == "protocol error":  # a malformed response, a PROTOCOL_ERROR reset
                        return router._fail(stream, conn, 502, prefix + reason.encode(), "UPE")
                    return router._fail(stream, conn, 503, prefix + reason.encode(), "UC")
            except SocketTimeout:
                if upstream_duration.passed(limit_at, attempt_deadline):
                    if not _limit_reached(router, stream, conn, state, limit_at, complete_at):
                        return None
                elif not _per_try_timeout(router, stream, conn, state, attempt_deadline,
                                          route_deadline):
                    return None
            conn.set_deadline(route_deadline)
            gevent.sleep(state.backoff())
    except (ProtocolError, OSError) as error:
        router.answer_failure(stream, conn, error)
    finally:
        router.h2.pop(stream, None)
        if state is not None:
            if router.retries.attempt_counts is not None:     # %UPSTREAM_REQUEST_ATTEMPT_COUNT%
                router.retries.attempt_counts[stream] = state.attempts
            state.release()
    return None


def _per_try_timeout(router, stream, conn, state, attempt_deadline, route_deadline):
    """A deadline passed: True to retry the attempt (its per-try timeout), else answered; the
    route's timeout is raised on to ``answer_failure``."""
    if (attempt_deadline >= route_deadline or stream.responded
            or time.monotonic() >= route_deadline):
        raise SocketTimeout("timed out")
    stream.cluster.stats.upstream_rq_per_try_timeout += 1
    report(stream, "timeout")
    if stream.upstream is not None:
        stream.upstream.pool.host.stats.rq_timeout += 1
    router._release(stream, False)
    if state.on_reset(LOCAL_RESET) is not RETRY:
        router._fail(stream, conn, 504, local_reply.UPSTREAM_TIMEOUT, "UT")
        return False
    return True


def _limit_reached(router, stream, conn, state, limit_at, complete_at):
    """The attempt outlived the cluster's max_stream_duration: True to retry it (a local reset,
    as Envoy's onStreamMaxDurationReached retries it), else answered."""
    upstream_duration.reached(router, stream)
    decision = None if state is None or stream.responded else state.on_reset(LOCAL_RESET)
    if decision is RETRY:
        return True
    upstream_duration.answer(stream, conn, limit_at, complete_at,
                             ("URX",) if decision is LIMIT_EXCEEDED else ())
    return False


def _retries_reset(state, stream, reason):
    if state is None or stream.responded:
        return False
    if reason == _REFUSED and state.retry_on & _REFUSED_STREAM_BIT:
        return state._decide(True) is RETRY
    return state.on_reset(reason) is RETRY


def forget(router, stream):
    exchange = router.h2.pop(stream, None)
    if exchange is not None and exchange.state is not None:
        exchange.state.release()


def _request_headers(method, target, headers, cluster):
    authority = b""
    regular = []
    for item in headers:
        name = item[0]
        if name in _NOT_SENT:
            if name == b"host":
                authority = item[1]
            elif name == b"te" and item[1].strip().lower() == b"trailers":
                regular.append((b"te", b"trailers"))
            continue
        regular.append(item)
    return [(b":method", method), (b":scheme", _scheme(cluster)), (b":authority", authority),
            (b":path", target), *regular]


def _scheme(cluster):
    return b"https" if cluster.transports.uses_tls else b"http"
