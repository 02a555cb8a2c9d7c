"""One attempt of a retrying route as the response relay sees it (relay._relay_with):
its timing, and its say on the response head before any byte goes downstream. Shared by the
attempt loops of retrying.py and hedging.py."""
from __future__ import annotations

from ...upstream.health.passive import report_immediate_fail
from .outcomes import report
from .retry import LIMIT_EXCEEDED, OVERFLOW_DECISION, RETRY

RETRIED = (b"upstream connect error or disconnect/reset before headers. "
            b"retried and the latest reset reason: ")


class RetryAttempt(Exception):
    """Raised out of the response relay when a response head is to be retried."""


class Attempt:
    """One attempt's view for the relay (relay._relay_with): when it was sent, its
    deadline (the sooner of the route's and the per-try one), its idle timeout, and ``on_head``."""

    __slots__ = ("router", "state", "sent_at", "deadline", "idle", "count_in_response")

    def __init__(self, router, state, sent_at, deadline, idle, count_in_response):
        self.router = router
        self.state = state
        self.sent_at = sent_at
        self.deadline = deadline
        self.idle = idle
        self.count_in_response = count_in_response

    def on_head(self, stream, head):
        """Judge a response head before it goes downstream; raises RetryAttempt to retry."""
        state = self.state
        if head.status < 200:
            state.disable()     # Envoy never retries once a 1xx went downstream
            return
        decision = state.on_response(head.status, head.headers)
        if decision is RETRY:
            report(stream, head.status)         # never reaches downstream_head, which reports
            if stream.cluster.health_reporter is not None:
                report_immediate_fail(stream.cluster, stream.upstream.pool.host, head.headers)
            stream.upstream.pool.host.stats.rq_error += 1
            self.router._release(stream, False)
            raise RetryAttempt()
        if decision is LIMIT_EXCEEDED:
            stream.flag("URX")
        elif decision is OVERFLOW_DECISION:
            stream.flag("UO")
