"""hedging.py's decisions without sockets: what a per-try timeout does when hedging, which
response head wins, which is retried or dropped, and Envoy's counts for each."""
import random
from types import SimpleNamespace

import pytest

from hotproxy.config.route import RetryPolicy
from hotproxy.http.router.hedging import Dropped, Hedge, Outstanding
from hotproxy.http.router.retry import LIMIT_EXCEEDED, RETRY, RoutePolicy
from hotproxy.http.router.attempts import RetryAttempt
from hotproxy.http.router.retrying import Replay
from hotproxy.stats.schema import ClusterStats


class Breaker:
    def __init__(self, places=3):
        self.places = places
        self.active = 0

    def try_start_retry(self):
        if self.active >= self.places:
            return False
        self.active += 1
        return True

    def end_retry(self):
        self.active -= 1


class Pool:
    def __init__(self, name):
        self.host = SimpleNamespace(label=name, active_requests=1,
                                    stats=SimpleNamespace(rq_error=0, rq_timeout=0))
        self.released = []

    def release(self, conn, reusable):
        self.released.append(reusable)


def upstream(name):
    return SimpleNamespace(pool=Pool(name), reused=False, tls=False)


class Router:
    stream_idle_timeout = 300

    def _release(self, stream, reusable):
        if stream.upstream is not None:
            stream.upstream.pool.release(stream.upstream, reusable)
            stream.upstream = None


class Stream:
    def __init__(self, stats):
        self.cluster = SimpleNamespace(stats=stats, outlier_detection=None, health_reporter=None)
        self.upstream = None
        self.responded = False
        self.flags = set()
        self.info = SimpleNamespace(upstream_host=None)
        self.route = SimpleNamespace(idle_timeout=None, retry=SimpleNamespace(
            per_try_idle_timeout=None, count_in_response=False))

    def flag(self, name):
        self.flags.add(name)


def hedge_for(num_retries=1, retry_on=("5xx",), places=3):
    stats = ClusterStats()
    head = SimpleNamespace(headers=[], host=b"h", method=b"GET")
    breaker = Breaker(places)
    state = RoutePolicy(RetryPolicy(retry_on=retry_on, num_retries=num_retries)).begin(
        head, b"/", stats, breaker, random.Random(1))
    replay = Replay(state, b"/", [], 1024, 0.3)
    replay.body = []
    retries = SimpleNamespace(router=Router(), replies=[])
    retries._reply = lambda stream, conn, replay, *answer: retries.replies.append(answer)
    hedge = Hedge(retries, Stream(stats), None, replay)
    return hedge, stats, breaker


def outstanding(hedge, name, soft_at=1.0):
    current = Outstanding(upstream(name), soft_at)
    hedge.attempts.append(current)
    return current


def response(status):
    return SimpleNamespace(status=status, headers=[])


def judge(hedge, current, status):
    hedge.stream.upstream = current.upstream
    hedge.judge(hedge.stream, response(status), current)


def test_per_try_timeout_starts_another_attempt_and_keeps_the_first():
    hedge, stats, breaker = hedge_for()
    first = outstanding(hedge, "a", soft_at=1.0)
    hedge.soft_timeouts(0.5)
    assert hedge.next_at is None and not first.hedged           # not yet
    hedge.soft_timeouts(1.0)
    assert first.hedged and first.soft_at is None and hedge.attempts == [first]
    assert 1.0 <= hedge.next_at < 1.025                         # after the back-off
    assert (stats.upstream_rq_retry, stats.upstream_rq_retry_backoff_exponential,
            stats.upstream_rq_per_try_timeout) == (1, 1, 0)     # a retry, not a per-try timeout
    assert breaker.active == 1 and hedge.state.attempts == 2
    assert first.upstream.pool.released == []                   # still in flight


def test_hedging_is_not_subject_to_retry_on():
    hedge, stats, _ = hedge_for(retry_on=("retriable-4xx",))
    outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    assert stats.upstream_rq_retry == 1


def test_no_retries_left_flags_urx_and_the_attempt_goes_on():
    hedge, stats, _ = hedge_for(num_retries=0)
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    assert hedge.next_at is None and not first.hedged and hedge.attempts == [first]
    assert hedge.stream.flags == {"URX"} and stats.upstream_rq_retry_limit_exceeded == 1


def test_without_a_retry_state_a_per_try_timeout_does_nothing():
    hedge, stats, _ = hedge_for(retry_on=())
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    assert first.timed_out and hedge.next_at is None and not hedge.stream.flags
    assert stats.upstream_rq_retry == stats.upstream_rq_retry_limit_exceeded == 0


def test_max_retries_overflow_flags_uo():
    hedge, stats, _ = hedge_for(places=0)
    outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    assert hedge.stream.flags == {"UO"} and hedge.next_at is None    # the breaker counts it


def test_the_hedge_wins_and_the_first_is_reset():
    hedge, stats, breaker = hedge_for()
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    second = outstanding(hedge, "b", soft_at=3.0)
    judge(hedge, second, 200)
    assert hedge.winner is second and hedge.attempts == [second]
    assert first.upstream.pool.released == [False]              # its connection closed
    assert hedge.stream.info.upstream_host == "b"
    assert stats.upstream_rq_retry_success == 1 and breaker.active == 0


def test_the_first_wins_without_counting_a_retry_success():
    hedge, stats, breaker = hedge_for()
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    second = outstanding(hedge, "b", soft_at=3.0)
    judge(hedge, first, 200)
    assert hedge.winner is first and second.upstream.pool.released == [False]
    assert stats.upstream_rq_retry_success == 0 and breaker.active == 0


def test_a_scheduled_retry_is_dropped_when_the_first_answers_during_the_back_off():
    hedge, _, _ = hedge_for()
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    judge(hedge, first, 200)
    assert hedge.next_at is None and hedge.winner is first


def test_a_hedged_attempts_bad_answer_is_dropped_while_another_may_answer():
    hedge, stats, _ = hedge_for()
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    outstanding(hedge, "b", soft_at=3.0)
    with pytest.raises(Dropped):
        judge(hedge, first, 503)
    assert first.upstream.pool.released == [False] and first.host.stats.rq_error == 1
    assert stats.upstream_rq_retry == 1        # not retried again


def test_a_bad_answer_without_retries_left_waits_for_the_other():
    hedge, stats, _ = hedge_for()
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    second = outstanding(hedge, "b", soft_at=3.0)
    with pytest.raises(Dropped):
        judge(hedge, second, 503)
    assert hedge.stream.flags == {"URX"} and stats.upstream_rq_retry_limit_exceeded == 1
    hedge.attempts.remove(second)
    judge(hedge, first, 200)
    assert hedge.winner is first


def test_the_last_bad_answer_is_the_response():
    hedge, _, _ = hedge_for()
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    hedge.next_at = None            # the hedged attempt failed to connect: nothing else left
    judge(hedge, first, 503)
    assert hedge.winner is first


def test_a_retriable_answer_of_an_attempt_not_hedged_is_retried():
    hedge, stats, _ = hedge_for(num_retries=2)
    first = outstanding(hedge, "a")
    with pytest.raises(RetryAttempt) as raised:
        judge(hedge, first, 503)
    assert raised.type is RetryAttempt and stats.upstream_rq_retry == 1


def test_a_reset_of_a_hedged_attempt_is_not_retried_while_another_is_out():
    hedge, stats, _ = hedge_for(num_retries=3)
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    second = outstanding(hedge, "b", soft_at=3.0)
    hedge.next_at = None
    hedge.failed(first, "connection termination")
    assert hedge.attempts == [second] and hedge.next_at is None
    assert stats.upstream_rq_retry == 1
    assert hedge.failure[0] == 503 and hedge.failure[1].endswith(b"connection termination")


def test_a_reset_of_an_attempt_not_hedged_is_retried():
    hedge, stats, _ = hedge_for()
    first = outstanding(hedge, "a")
    hedge.failed(first, "connection termination")
    assert hedge.attempts == [] and hedge.next_at is not None and stats.upstream_rq_retry == 1


def test_the_route_timeout_counts_one_timeout_per_outstanding_attempt():
    hedge, stats, _ = hedge_for()
    first = outstanding(hedge, "a")
    hedge.soft_timeouts(2.0)
    second = outstanding(hedge, "b", soft_at=3.0)
    hedge.timed_out()
    assert stats.upstream_rq_timeout == 2
    assert first.host.stats.rq_timeout == second.host.stats.rq_timeout == 1
    assert first.upstream.pool.released == second.upstream.pool.released == [False]
    assert hedge.retries.replies == [(504, b"upstream request timeout", "UT")]


def test_on_hedge_is_a_decision_and_would_retry_response_is_not():
    hedge, stats, _ = hedge_for(num_retries=1)
    state = hedge.state
    assert state.would_retry_response(503, []) and not state.would_retry_response(200, [])
    assert stats.upstream_rq_retry == 0
    assert state.on_hedge() is RETRY and state.on_hedge() is LIMIT_EXCEEDED
