"""Hedged attempts: a route's ``hedge_policy.hedge_on_per_try_timeout``, as Envoy 1.40's router
makes them.

A per-try timeout (or per-try idle timeout) does not end its attempt. With retries left it
schedules another attempt after the usual back-off, counted as any retry (``upstream_rq_retry``,
``upstream_rq_retry_backoff_exponential``, the max_retries breaker), whatever ``retry_on`` says;
``upstream_rq_per_try_timeout`` is not counted, the host's outlier detection hears of a timeout.
Without retries left the attempt just goes on (``URX``). The first response head of any
outstanding attempt that is not itself to be retried wins: the other attempts are reset (their
connections closed) and a scheduled retry is dropped. An attempt that was hedged is never
retried itself: its bad response, or its reset, is dropped while another attempt may still
answer (Envoy's ``could_not_retry``). The route timeout still bounds everything: 504 ``UT``,
``upstream_rq_timeout`` counted once per attempt still outstanding.

Only requests of routes that hedge and have a per-try timeout get here (retrying.Retries.finish
hands them over): the loop waits on every outstanding attempt's socket at once (gevent's select)
and reads the one that has bytes through the router's relay, judging its head in
``Hedge.judge`` before any byte of it goes downstream.
"""
from __future__ import annotations

import time
from socket import timeout as SocketTimeout

import gevent
from gevent import select as _select

from ...deadlines import NEVER
from ...errors import ProtocolError
from ...upstream.health.passive import report_immediate_fail
from ...upstream.request import give_back
from .. import local_reply
from .outcomes import report, report_host
from .trailers import request_end
from .retry import LIMIT_EXCEEDED, OVERFLOW_DECISION, PROTOCOL_ERROR, RETRY, UpstreamReset
from .attempts import RETRIED as _RETRIED, Attempt, RetryAttempt


def configured(route):
    """Whether ``route`` hedges on per-try timeouts: its hedge policy, else its virtual host's
    (the config parser gives routes without one their virtual host's). Cached on the route's
    RoutePolicy, so a route reads its config once."""
    action = route.config.route
    policy = action.hedge_policy if action is not None else None
    route.retry.hedge = hedge = policy is not None and policy.hedge_on_per_try_timeout
    return hedge


def finish(retries, stream, conn, replay):
    """retrying.Retries.finish for a hedging request."""
    hedge = Hedge(retries, stream, conn, replay)
    try:
        hedge.run()
    finally:
        hedge.reset_all()
        if retries.attempt_counts is not None:
            retries.attempt_counts[stream] = replay.state.attempts
        replay.state.release()
        retries.replays.pop(stream, None)


class Dropped(RetryAttempt):
    """A response head that neither wins nor is retried: another attempt may still answer."""


class Outstanding:
    """An attempt in flight: its connection and host, when its per-try timeout fires (None:
    never, or it did), and whether a later attempt was started for it (Envoy's retried())."""

    __slots__ = ("upstream", "host", "soft_at", "hedged", "timed_out")

    def __init__(self, upstream, soft_at):
        self.upstream = upstream
        self.host = upstream.pool.host
        self.soft_at = soft_at
        self.hedged = False
        self.timed_out = False      # its per-try timeout fired (outlier detection was told)


class HedgedAttempt(Attempt):
    """The relay's view of the attempt being read: its head is judged by the Hedge."""

    __slots__ = ("hedge", "current")

    def on_head(self, stream, head):
        self.hedge.judge(stream, head, self.current)


class Hedge:
    """The attempts of one hedging request, from the complete request to the answer."""

    def __init__(self, retries, stream, conn, replay):
        self.retries = retries
        self.router = retries.router
        self.stream = stream
        self.conn = conn
        self.replay = replay
        self.state = replay.state
        self.attempts = []          # Outstanding, oldest first
        self.next_at = None         # when the scheduled retry starts; None: none is
        self.winner = None
        self.failure = None         # (status, body, flag) of the latest attempt that failed
        route = stream.route
        windows = [w for w in (replay.per_try, route.retry.per_try_idle_timeout) if w]
        self.window = min(windows) if windows else None
        # a hedged retry announces what is left of the route timeout (Envoy's
        # x-envoy-expected-rq-timeout-ms when hedging), not the per-try one
        replay.per_try = None
        self.idle = (route.idle_timeout if route.idle_timeout is not None
                     else self.router.stream_idle_timeout)
        self.complete_at = self.route_deadline = None

    def run(self):
        stream, conn, replay = self.stream, self.conn, self.replay
        replay.finishing = True
        if stream.chunked:
            end = request_end(stream, conn)
            stream.out.append(end)
            if replay.body is not None:
                replay.body.append(end)
        self.complete_at = now = time.monotonic()
        timeout = stream.route.timeout
        self.route_deadline = now + timeout if timeout else NEVER
        try:
            if stream.upstream is None:
                self.launch()
            else:
                self.send()
            while True:
                now = time.monotonic()
                if self.next_at is not None and now >= self.next_at:
                    self.next_at = None
                    self.launch()
                    continue
                if not self.attempts and self.next_at is None:
                    status, body, flag = self.failure
                    return self.retries._reply(stream, conn, replay, status, body, flag)
                self.soft_timeouts(now)
                wake = [a.soft_at for a in self.attempts if a.soft_at is not None]
                if self.next_at is not None:
                    wake.append(self.next_at)
                conn.set_deadline(self.route_deadline)
                ready = self.wait(max(0.0, min(wake) - now) if wake else None)
                if ready is not None and self.read(ready):
                    return
        except SocketTimeout:
            self.timed_out()
        except OSError:
            # the downstream failed while the response was relayed
            stream.flag("DC")
            stream.close = True

    # --- attempts --------------------------------------------------------------------------

    def launch(self):
        """Start the next attempt (a host picked again, the request replayed)."""
        stream, replay = self.stream, self.replay
        stream.upstream = None
        failure = self.retries._open(stream, self.conn, replay, self.complete_at)
        if failure is not None:
            self.failure = failure      # answered once no other attempt can answer
            return
        stream.head_sent = stream.body_sent = False
        stream.out.append(stream.request_bytes)
        stream.out.extend(replay.body or ())
        self.send()

    def send(self):
        """Send what is queued for ``stream.upstream`` and count it among the outstanding."""
        stream = self.stream
        window = self.window
        current = Outstanding(stream.upstream,
                              time.monotonic() + window if window is not None else None)
        self.attempts.append(current)
        if stream.head_sent:
            self.state.started = True       # sent while the request arrived
        try:
            if stream.out:
                self.router.flush(stream)
        except UpstreamReset as reset:
            return self.failed(current, reset.reason)
        self.state.started = True
        stream.upstream = None

    def soft_timeouts(self, now):
        state = self.state
        for current in self.attempts:
            if current.soft_at is None or now < current.soft_at:
                continue
            current.soft_at = None
            current.timed_out = True
            report_host(self.stream.cluster, current.host, "timeout")
            if not state.enabled:
                continue        # no retry state (Envoy): the attempt just goes on
            decision = state.on_hedge()
            if decision is RETRY:
                current.hedged = True
                self.next_at = now + state.backoff()
            else:
                self._flag(decision)

    def wait(self, timeout):
        """The oldest outstanding attempt with bytes to read, or None after ``timeout``."""
        attempts = self.attempts
        if not attempts:
            gevent.sleep(timeout)
            return None
        for current in attempts:
            if current.upstream.tls and current.upstream.sock.pending():
                return current
        readable = _select.select([a.upstream.sock for a in attempts], (), (), timeout)[0]
        for current in attempts:
            if current.upstream.sock in readable:
                return current
        return None

    def read(self, current):
        """Read ``current``'s response: True once the request is answered."""
        stream = self.stream
        stream.upstream = current.upstream
        attempt = HedgedAttempt(self.router, self.state, self.complete_at, self.route_deadline,
                                self.idle, stream.route.retry.count_in_response)
        attempt.hedge = self
        attempt.current = current
        try:
            self.router._relay_response(stream, self.conn, attempt)
        except Dropped:
            self.attempts.remove(current)
            return False
        except RetryAttempt:
            self.attempts.remove(current)
            self.next_at = time.monotonic() + self.state.backoff()
            return False
        except (UpstreamReset, ProtocolError) as error:
            reason = PROTOCOL_ERROR if isinstance(error, ProtocolError) else error.reason
            if self.winner is None:
                self.failed(current, reason)
                return False
            self.winner_failed(reason)
            return True
        self.attempts.clear()           # the relay gave the winner's connection back
        return True

    # --- decisions -------------------------------------------------------------------------

    def judge(self, stream, head, current):
        """An attempt's response head, before any of it goes downstream: retried (raises
        RetryAttempt), dropped (raises Dropped) or the winner."""
        state = self.state
        if head.status < 200:
            state.disable()     # Envoy never retries once a 1xx went downstream
            return self.win(current)
        others = len(self.attempts) > 1 or self.next_at is not None
        if current.hedged:
            if others and state.enabled and state.would_retry_response(head.status, head.headers):
                self.drop(stream, head)
        else:
            decision = state.on_response(head.status, head.headers)
            if decision is RETRY:
                self.drop(stream, head, RetryAttempt)
            if decision is LIMIT_EXCEEDED or decision is OVERFLOW_DECISION:
                self._flag(decision)
                if others:
                    self.drop(stream, head)
        self.win(current)

    def drop(self, stream, head, kind=Dropped):
        report(stream, head.status)         # never reaches downstream_head, which reports
        if stream.cluster.health_reporter is not None:
            report_immediate_fail(stream.cluster, stream.upstream.pool.host, head.headers)
        stream.upstream.pool.host.stats.rq_error += 1
        self.router._release(stream, False)
        raise kind()

    def win(self, current):
        """``current`` answers: the others are reset, a scheduled retry is dropped."""
        stream = self.stream
        for other in self.attempts:
            if other is not current:
                give_back(stream.cluster, other.upstream, False)
        self.attempts = [current]
        self.next_at = None
        self.winner = current
        self.state.release()
        stream.info.upstream_host = current.host.label

    def failed(self, current, reason):
        """``current`` ended without a response head."""
        stream, state, replay = self.stream, self.state, self.replay
        self.attempts.remove(current)
        stream.upstream = current.upstream
        self.router._release(stream, False)
        if (current.upstream.reused and not current.hedged and not replay.stale_retried
                and not state.would_retry_reset(reason) and replay.body is not None):
            # a pooled connection the upstream had closed: sent again at once on a fresh one
            replay.stale_retried = True
            replay.fresh_on = current.host
            stream.cluster.stats.upstream_rq_retry += 1
            self.next_at = time.monotonic()
            return
        report_host(stream.cluster, current.host, "reset")
        if not current.hedged:
            decision = state.on_reset(reason)
            if decision is RETRY:
                current.host.stats.rq_error += 1
                self.next_at = time.monotonic() + state.backoff()
                return
            self._flag(decision)
        if reason == PROTOCOL_ERROR:
            stream.cluster.stats.upstream_cx_protocol_error += 1
            self.failure = (502, local_reply.CONNECT_ERROR + b"protocol error", "UPE")
        else:
            prefix = _RETRIED if state.attempts > 1 else local_reply.CONNECT_ERROR
            self.failure = (503, prefix + reason.encode(), "UC")

    def winner_failed(self, reason):
        """The winner's response broke off: nothing is retried any more."""
        stream = self.stream
        self.attempts.clear()
        report(stream, "reset")
        self.router._release(stream, False)
        if reason == PROTOCOL_ERROR:
            stream.cluster.stats.upstream_cx_protocol_error += 1
            status, body, flag = 502, local_reply.CONNECT_ERROR + b"protocol error", "UPE"
        else:
            status, body, flag = 503, local_reply.CONNECT_ERROR + reason.encode(), "UC"
        if stream.responded:
            stream.flag(flag)
            stream.close = True
        else:
            self.retries._reply(stream, self.conn, self.replay, status, body, flag)

    def timed_out(self):
        """The route timeout (or the idle one) passed: every outstanding attempt is reset."""
        stream = self.stream
        cluster = stream.cluster
        for current in self.attempts:
            cluster.stats.upstream_rq_timeout += 1
            current.host.stats.rq_timeout += 1
            if not current.timed_out:
                report_host(cluster, current.host, "timeout")
        self.reset_all()
        if stream.responded:
            stream.flag("UT")
            stream.close = True
        else:
            self.retries._reply(stream, self.conn, self.replay, 504,
                                local_reply.UPSTREAM_TIMEOUT, "UT")

    def reset_all(self):
        stream = self.stream
        if stream.upstream is not None and all(a.upstream is not stream.upstream
                                               for a in self.attempts):
            self.router._release(stream, False)
        stream.upstream = None
        for current in self.attempts:
            give_back(stream.cluster, current.upstream, False)
        self.attempts = []

    def _flag(self, decision):
        if decision is LIMIT_EXCEEDED:
            self.stream.flag("URX")
        elif decision is OVERFLOW_DECISION:
            self.stream.flag("UO")
