"""Attempts of a request on a route with a retry policy (or attempt counts): the I/O around
retry.RetryState.

``Retries.start`` makes the first attempt while the request body may still be arriving: a connect
failure is retried right away (after the back-off) on a host picked again. Body bytes are sent as
they arrive and kept in a ``Replay`` up to the buffer limit; past it the request can no longer be
retried (``retry_or_shadow_abandoned``). ``Retries.finish`` runs the attempt loop once the request
is complete: each attempt's response head is judged before any byte of it goes downstream
(``Attempt.on_head``), so a retried response is never partly sent. Timeouts: the route timeout
runs from the end of the request over every attempt and back-off; ``per_try_timeout`` and
``per_try_idle_timeout`` end one attempt.
"""
from __future__ import annotations

import time
from socket import timeout as SocketTimeout

import gevent

from ...deadlines import NEVER
from ...errors import ProtocolError
from ...upstream.connect import ConnectFailure
from ...upstream.request import take_connection
from .. import local_reply
from ..http1.serialize import request_head
from ..headers import header_index
from . import hedging as _hedging
from . import upstream_duration
from .attempts import RETRIED as _RETRIED, Attempt, RetryAttempt
from .downstream_head import set_header as _set_header
from .host_choice import pick_host
from .outcomes import report, report_host
from .local_failure_stats import charge_local_reply
from .trailers import request_end
from .retry import (LIMIT_EXCEEDED, LOCAL_RESET, OVERFLOW, OVERFLOW_DECISION, PROTOCOL_ERROR,
                    RETRY, DEFAULT_BUFFER_LIMIT, UpstreamReset)

class Replay:
    """A request of a retrying route: its RetryState, the request as the upstream gets it (target
    and headers, edited again per attempt) and the body sent so far, None once it outgrew
    ``limit`` (kept even when no retry is possible: a stale pooled connection is replaced by
    sending it all again)."""

    __slots__ = ("state", "target", "headers", "body", "size", "limit", "per_try", "attempt_at",
                 "expected_at", "stale_retried", "fresh_on", "finishing", "hash_key", "hedge",
                 "limit_at")

    def __init__(self, state, target, headers, limit, per_try):
        self.state = state
        self.target = target
        self.headers = headers
        self.body = []
        self.size = 0
        self.limit = limit
        self.per_try = per_try          # per_try_timeout, None when off (or not below the route's)
        self.attempt_at = -1            # index of x-envoy-attempt-count in headers, -1: none
        self.expected_at = -1           # index of x-envoy-expected-rq-timeout-ms, -1: none
        self.stale_retried = False      # a stale pooled connection was replaced (once at most)
        self.fresh_on = None            # the host to reconnect to for that, or None
        #: the request is complete and its attempts are made by the loop in Retries.finish
        self.finishing = False
        self.hash_key = None            # from the route's hash_policy, for every attempt
        self.hedge = False              # attempts are hedged at per-try timeouts (hedging.py)
        #: when the current attempt reaches the cluster's max_stream_duration (upstream_duration.py)
        self.limit_at = NEVER


class Retries:
    """The router's retrying half, one per connection manager (so per worker)."""

    def __init__(self, router):
        self.router = router
        self.replays = {}           # stream → Replay, from the first attempt to the last
        #: the listener's per_connection_buffer_limit_bytes (set by the listener manager)
        self.connection_buffer_limit = DEFAULT_BUFFER_LIMIT
        #: stream → attempts made, for %UPSTREAM_REQUEST_ATTEMPT_COUNT% (None: no access log;
        #: the router sets it)
        self.attempt_counts = None

    # --- while the request arrives -----------------------------------------------------------

    def start(self, stream, conn, cluster, target, headers, hash_key=None):
        route = stream.route
        policy = route.retry
        state = policy.begin(stream.head, target, cluster.stats,
                             cluster.high if route.high_priority else cluster)
        if route.rewrites_path:
            target = route.rewrite_path(target)
        if route.host_rewrite_literal is not None:
            _set_header(headers, b"host", route.host_rewrite_literal)
        per_try = policy.per_try_timeout
        if per_try is not None and route.timeout and per_try >= route.timeout:
            per_try = None      # Envoy ignores a per-try timeout that is not below the route's
        limit = self.connection_buffer_limit
        if policy.buffer_limit is not None:
            limit = min(limit, policy.buffer_limit)
        replay = Replay(state, target, headers, limit, per_try)
        replay.hash_key = hash_key
        hedge = policy.hedge if policy.hedge is not None else _hedging.configured(route)
        replay.hedge = hedge and (per_try or policy.per_try_idle_timeout) is not None
        expected = route.timeout if hedge else per_try or route.timeout  # Envoy's, hedging
        if expected:
            replay.expected_at = len(headers)
            headers.append((b"x-envoy-expected-rq-timeout-ms", b"%d" % int(expected * 1000)))
        if policy.count_in_request:
            replay.attempt_at = len(headers)
            headers.append((b"x-envoy-attempt-count", b"1"))
        if route.has_request_mutations:
            replay.headers = headers = route.mutate_request(headers, stream.weighted, conn)
            replay.expected_at = header_index(headers, b"x-envoy-expected-rq-timeout-ms")
            replay.attempt_at = header_index(headers, b"x-envoy-attempt-count")
        if stream.chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        failure = self._open(stream, conn, replay)
        if self.attempt_counts is not None:
            self.attempt_counts[stream] = state.attempts
        if failure is not None:
            state.release()
            status, body, flag = failure
            if flag == "UH" and state.attempts == 1:
                # before any attempt: Envoy adds no attempt count yet
                charge_local_reply(cluster, status, flag)
                return conn.local_reply(stream, status, body, flag=flag)
            if flag == "UH" or not stream.head.has_body:
                # nothing to read first: answered now, with the attempt count when asked for
                return self._reply(stream, conn, replay, status, body, flag)
            charge_local_reply(cluster, status, flag)
            return conn.defer_reply(stream, status, body, flag,
                                    local_reply.OVERFLOW_HEADERS if flag == "UO" else ())
        self.replays[stream] = replay
        stream.out.append(stream.request_bytes)

    def keep(self, stream, piece, size):
        """Keep a body piece (as framed for the upstream) for a replay, up to the limit."""
        replay = self.replays.get(stream)
        if replay is None or replay.body is None:
            return
        replay.size += size
        if replay.size > replay.limit:
            if replay.state.enabled:
                stream.cluster.stats.retry_or_shadow_abandoned += 1
                replay.state.disable()
            replay.body = None
            return
        replay.body.append(piece)

    def forget(self, stream):
        replay = self.replays.pop(stream, None)
        if replay is not None:
            replay.state.release()

    # --- once the request is complete --------------------------------------------------------

    def finish(self, stream, conn, replay):
        if replay.hedge:
            return _hedging.finish(self, stream, conn, replay)
        router = self.router
        route = stream.route
        state = replay.state
        replay.finishing = True
        if stream.chunked:
            end = request_end(stream, conn)
            stream.out.append(end)
            if replay.body is not None:
                replay.body.append(end)
        complete_at = time.monotonic()
        route_deadline = complete_at + route.timeout if route.timeout else NEVER
        idle = route.idle_timeout
        if idle is None:
            idle = router.stream_idle_timeout
        try_idle = route.retry.per_try_idle_timeout
        attempt_idle = try_idle if not idle or (try_idle and try_idle < idle) else idle
        try:
            while True:
                if stream.upstream is None:
                    conn.set_deadline(route_deadline)
                    failure = self._open(stream, conn, replay, complete_at)
                    if failure is not None:
                        return self._reply(stream, conn, replay, *failure)
                    stream.head_sent = stream.body_sent = False
                    stream.out.append(stream.request_bytes)
                    stream.out.extend(replay.body or ())
                deadline = route_deadline
                if replay.per_try is not None:
                    deadline = min(deadline, time.monotonic() + replay.per_try)
                attempt = Attempt(router, state, complete_at, min(deadline, replay.limit_at),
                                  attempt_idle, route.retry.count_in_response)
                try:
                    if time.monotonic() >= replay.limit_at:
                        raise SocketTimeout("timed out")    # it passed while the body arrived
                    if stream.head_sent:
                        state.started = True    # sent while the request arrived
                    if stream.out:
                        router.flush(stream)
                    state.started = True
                    router._relay_response(stream, conn, attempt)
                    return
                except RetryAttempt:
                    pass
                except (UpstreamReset, ProtocolError) as error:
                    reason = PROTOCOL_ERROR if isinstance(error, ProtocolError) else error.reason
                    if not self._retry_reset(stream, conn, replay, reason):
                        return
                except SocketTimeout:
                    if upstream_duration.passed(replay.limit_at, deadline):
                        if not self._limit_reached(stream, conn, replay, complete_at):
                            return
                    elif not self._retry_timeout(stream, conn, replay, route_deadline, attempt,
                                                 idle, try_idle):
                        return
                except OSError:
                    # the downstream failed while the response was relayed
                    router._release(stream, False)
                    stream.flag("DC")
                    stream.close = True
                    return
                conn.set_deadline(route_deadline)
                if replay.fresh_on is None:     # no back-off to replace a stale connection
                    gevent.sleep(state.backoff())
        except SocketTimeout:
            # the route timeout ended a back-off or a connect
            router._release(stream, False)
            stream.cluster.stats.upstream_rq_timeout += 1
            self._reply(stream, conn, replay, 504, local_reply.UPSTREAM_TIMEOUT, "UT")
        finally:
            if self.attempt_counts is not None:
                self.attempt_counts[stream] = state.attempts
            state.release()
            self.replays.pop(stream, None)

    def _retry_reset(self, stream, conn, replay, reason):
        """An attempt ended without a response head: True to retry it."""
        router = self.router
        upstream = stream.upstream
        host_stats = upstream.pool.host.stats if upstream is not None else None
        router._release(stream, False)
        state = replay.state
        if (upstream is not None and upstream.reused and not stream.responded
                and not replay.stale_retried and not state.would_retry_reset(reason)
                and replay.body is not None):
            # A pooled connection the upstream had closed: sent once more on a fresh
            # connection to the same host, as on routes without a policy (router._reconnect).
            replay.stale_retried = True
            replay.fresh_on = upstream.pool.host
            stream.cluster.stats.upstream_rq_retry += 1
            return True
        if upstream is not None:
            report_host(stream.cluster, upstream.pool.host, "reset")
        if stream.responded:
            # already started downstream: all that can be said now is an abrupt close
            stream.flag("UPE" if reason == PROTOCOL_ERROR else "UC")
            stream.close = True
            return False
        decision = state.on_reset(reason)
        if decision is RETRY:
            if host_stats is not None:
                host_stats.rq_error += 1
            return True
        if reason == PROTOCOL_ERROR:
            stream.cluster.stats.upstream_cx_protocol_error += 1
            self._reply(stream, conn, replay, 502, local_reply.CONNECT_ERROR + b"protocol error",
                        "UPE", decision)
        else:
            prefix = _RETRIED if replay.state.attempts > 1 else local_reply.CONNECT_ERROR
            self._reply(stream, conn, replay, 503, prefix + reason.encode(), "UC", decision)
        return False

    def _retry_timeout(self, stream, conn, replay, route_deadline, attempt, idle, try_idle):
        """A deadline passed during an attempt: True to retry it."""
        router = self.router
        stats = stream.cluster.stats
        upstream = stream.upstream
        if upstream is not None:
            upstream.pool.host.stats.rq_timeout += 1
        report(stream, "timeout")
        router._release(stream, False)
        now = time.monotonic()
        per_try = now < route_deadline and (
            now >= attempt.deadline or (try_idle is not None and attempt.idle == try_idle))
        if not per_try:
            stats.upstream_rq_timeout += 1
            decision = None
        else:
            if now >= attempt.deadline:
                stats.upstream_rq_per_try_timeout += 1
            else:
                stats.upstream_rq_per_try_idle_timeout += 1
            decision = None if stream.responded else replay.state.on_reset(LOCAL_RESET)
            if decision is RETRY:
                return True
        if stream.responded:
            stream.flag("UT")
            stream.close = True
            return False
        self._reply(stream, conn, replay, 504, local_reply.UPSTREAM_TIMEOUT, "UT", decision)
        return False

    def _limit_reached(self, stream, conn, replay, complete_at):
        """The attempt outlived the cluster's max_stream_duration: True to retry it (as a
        local reset, as Envoy's onStreamMaxDurationReached does)."""
        upstream_duration.reached(self.router, stream)
        decision = None if stream.responded else replay.state.on_reset(LOCAL_RESET)
        if decision is RETRY:
            return True
        flags = ("URX",) if decision is LIMIT_EXCEEDED else (
            ("UO",) if decision is OVERFLOW_DECISION else ())
        upstream_duration.answer(stream, conn, replay.limit_at, complete_at, flags)
        return False

    def _reply(self, stream, conn, replay, status, body, flag, decision=None):
        if decision is LIMIT_EXCEEDED:
            stream.flag("URX")
        elif decision is OVERFLOW_DECISION:
            stream.flag("UO")
        charge_local_reply(stream.cluster, status, flag)
        extra = ()
        if stream.route.retry.count_in_response:
            extra = [(b"x-envoy-attempt-count", b"%d" % replay.state.attempts)]
        conn.local_reply(stream, status, body, close=stream.close, extra=extra, flag=flag,
                         leading=local_reply.OVERFLOW_HEADERS if flag == "UO" else ())

    # --- attempts ---------------------------------------------------------------------------

    def _open(self, stream, conn, replay, complete_at=None):
        """Pick a host and take a connection for the next attempt, retrying connect failures.
        Returns None (``stream.upstream`` is set and ``stream.request_bytes`` encoded) or the
        (status, body, flag) to answer."""
        route = stream.route
        cluster = stream.cluster
        state = replay.state
        headers = replay.headers
        stats = cluster.stats
        while True:
            host, fresh, replay.fresh_on = replay.fresh_on, replay.fresh_on is not None, None
            if host is None:
                host = pick_host(cluster, state, replay.hash_key, conn.sock, headers)
            if host is None:
                return 503, local_reply.NO_HEALTHY_UPSTREAM, "UH"
            state.attempted_hosts.append(host)
            stream.info.upstream_host = host.label
            pool = host.pool if not route.high_priority else cluster.high.pool(host)
            if cluster.options_per_request:
                pool = cluster.pool_for_request(host, stream.head.host, headers, conn,
                                                route.high_priority)
            if route.auto_host_rewrite and host.hostname:
                _set_header(headers, b"host", host.hostname.encode())
            if replay.attempt_at >= 0:
                headers[replay.attempt_at] = (b"x-envoy-attempt-count", b"%d" % state.attempts)
            if complete_at is not None and replay.expected_at >= 0:
                headers[replay.expected_at] = (b"x-envoy-expected-rq-timeout-ms",
                                               b"%d" % _expected_ms(route, replay, complete_at))
            try:
                stream.upstream = take_connection(cluster, host, pool, fresh)
            except ConnectFailure as failure:
                overflow = failure.reason == "overflow"
                decision = state.on_reset(OVERFLOW if overflow else failure.reason)
                if decision is RETRY:
                    gevent.sleep(state.backoff())
                    continue
                if decision is LIMIT_EXCEEDED:
                    stream.flag("URX")
                elif decision is OVERFLOW_DECISION:
                    stream.flag("UO")
                prefix = _RETRIED if state.attempts > 1 else local_reply.CONNECT_ERROR
                return 503, prefix + failure.reason.encode(), "UO" if overflow else "UF"
            # counted once connected, as Envoy counts them (on pool ready)
            replay.limit_at = upstream_duration.limit_from_now(cluster)
            stats.upstream_rq_total += 1
            host.stats.rq_total += 1
            stream.request_bytes = request_head(stream.head.method, replay.target, headers)
            return None


def _expected_ms(route, replay, complete_at):
    """x-envoy-expected-rq-timeout-ms of a retry: its per-try timeout, or what is left of the
    route timeout, whichever is less (at least 1)."""
    expected = int(replay.per_try * 1000) if replay.per_try else 0
    if route.timeout:
        left = int(route.timeout * 1000) - int((time.monotonic() - complete_at) * 1000)
        expected = max(1, min(expected, left) if expected else left)
    return expected
