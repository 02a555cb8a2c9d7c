"""retry.py: Envoy's retry decisions, counts, back-off and host choice, without sockets."""
import random
import time
from types import SimpleNamespace

import pytest

from hotproxy.config.core import HeaderMatcher
from hotproxy.config.route import (RateLimitedRetryBackOff, ResetHeader, RetryBackOff,
                                   RetryPolicy)
from hotproxy.http.router.retry import (CONNECT_FAILURE, CONNECT_TIMEOUT, CONNECTION_TERMINATION,
                                        LIMIT_EXCEEDED, LOCAL_RESET, NO_RETRY, OVERFLOW,
                                        OVERFLOW_DECISION, RETRY, RoutePolicy)
from hotproxy.http.router.host_choice import pick_host
from hotproxy.stats.schema import ClusterStats


class Breaker:
    """The cluster's max_retries circuit breaker as RetryState sees it (upstream/cluster.py)."""

    def __init__(self, limit=3, stats=None):
        self.limit = limit
        self.active = 0
        self.stats = stats or ClusterStats()

    def try_start_retry(self):
        if self.active >= self.limit:
            self.stats.upstream_rq_retry_overflow += 1
            return False
        self.active += 1
        return True

    def end_retry(self):
        self.active -= 1


def head(headers=(), method=b"GET"):
    return SimpleNamespace(headers=list(headers), host=b"example.com", method=method)


def state_for(policy=None, budget=None, rng=None, request=(), control=None, **route):
    compiled = RoutePolicy(policy if policy is not None else RetryPolicy(**route))
    budget = budget or Breaker()
    stats = budget.stats
    state = compiled.begin(head(request), b"/", stats, budget, rng or random.Random(7), control)
    return state, stats


@pytest.mark.parametrize("retry_on, status, headers, expected", [
    ("5xx", 503, (), True), ("5xx", 500, (), True), ("5xx", 499, (), False),
    ("gateway-error", 502, (), True), ("gateway-error", 504, (), True),
    ("gateway-error", 500, (), False),
    ("retriable-4xx", 409, (), True), ("retriable-4xx", 404, (), False),
    ("connect-failure", 503, (), False), ("reset", 503, (), False),
    # x-envoy-ratelimited decides alone: only envoy-ratelimited retries it, even a 5xx
    ("5xx", 503, ((b"x-envoy-ratelimited", b"true"),), False),
    ("envoy-ratelimited", 429, ((b"x-envoy-ratelimited", b"true"),), True),
    ("envoy-ratelimited", 429, (), False),
])
def test_response_conditions(retry_on, status, headers, expected):
    state, _ = state_for(retry_on=(retry_on,))
    assert (state.on_response(status, list(headers)) is RETRY) is expected


def test_retriable_status_codes_and_headers():
    state, _ = state_for(retry_on=("retriable-status-codes",), retriable_status_codes=(418,))
    assert state.on_response(418, []) is RETRY
    state, _ = state_for(retry_on=("retriable-status-codes",), retriable_status_codes=(418,))
    assert state.on_response(503, []) is NO_RETRY
    matcher = HeaderMatcher(name="x-retry", kind="exact", value="yes")
    state, _ = state_for(retry_on=("retriable-headers",), retriable_headers=(matcher,))
    assert state.on_response(200, [(b"x-retry", b"no")]) is NO_RETRY
    state, _ = state_for(retry_on=("retriable-headers",), retriable_headers=(matcher,))
    assert state.on_response(200, [(b"x-retry", b"yes")]) is RETRY


@pytest.mark.parametrize("retry_on, reason, started, expected", [
    ("connect-failure", CONNECT_FAILURE, False, True),
    ("connect-failure", CONNECT_TIMEOUT, False, True),
    ("connect-failure", CONNECTION_TERMINATION, True, False),
    ("connect-failure", LOCAL_RESET, True, False),   # a per-try timeout needs 5xx/reset
    ("5xx", CONNECTION_TERMINATION, True, True), ("gateway-error", LOCAL_RESET, True, True),
    ("reset", CONNECT_FAILURE, False, True), ("reset", CONNECTION_TERMINATION, True, True),
    ("reset-before-request", CONNECTION_TERMINATION, False, True),
    ("reset-before-request", CONNECTION_TERMINATION, True, False),
    ("retriable-4xx", CONNECTION_TERMINATION, True, False),
    # overflow (a full connection pool) is never retried
    ("5xx", OVERFLOW, False, False), ("reset", OVERFLOW, False, False),
])
def test_reset_conditions(retry_on, reason, started, expected):
    state, _ = state_for(retry_on=(retry_on,))
    state.started = started
    assert (state.on_reset(reason) is RETRY) is expected


def test_attempts_counts_and_the_limit():
    budget = Breaker()
    state, stats = state_for(retry_on=("5xx",), num_retries=2, budget=budget)
    assert state.attempts == 1
    assert state.on_response(503, []) is RETRY and state.attempts == 2
    assert budget.active == 1                       # held until the next decision
    assert state.on_response(503, []) is RETRY and state.attempts == 3
    assert budget.active == 1
    assert state.on_response(503, []) is LIMIT_EXCEEDED
    assert budget.active == 0
    assert (stats.upstream_rq_retry, stats.upstream_rq_retry_limit_exceeded,
            stats.upstream_rq_retry_success) == (2, 1, 0)


def test_success_is_counted_after_a_retry_only():
    state, stats = state_for(retry_on=("5xx",))
    assert state.on_response(200, []) is NO_RETRY
    assert stats.upstream_rq_retry_success == 0
    state, stats = state_for(retry_on=("5xx",))
    state.on_response(503, [])
    assert state.on_response(200, []) is NO_RETRY
    assert stats.upstream_rq_retry_success == 1


def test_max_retries_overflow_means_no_retry():
    budget = Breaker(limit=1)
    first, stats = state_for(retry_on=("5xx",), budget=budget)
    second, _ = state_for(retry_on=("5xx",), budget=budget)
    assert first.on_response(503, []) is RETRY
    assert second.on_response(503, []) is OVERFLOW_DECISION
    assert stats.upstream_rq_retry_overflow == 1
    first.release()                                 # the request ended: its slot is free
    assert budget.active == 0
    third, _ = state_for(retry_on=("5xx",), budget=budget)
    assert third.on_response(503, []) is RETRY


def test_num_retries_zero_never_retries():
    state, stats = state_for(retry_on=("5xx",), num_retries=0)
    assert state.on_response(503, []) is LIMIT_EXCEEDED
    assert stats.upstream_rq_retry_limit_exceeded == 1


def test_jittered_exponential_back_off_as_envoy_computes_it():
    # base 25 ms, max 250 ms: intervals 25, 50, 100, 200, 250, 250; each wait is random % interval
    rng = random.Random(3)
    state, stats = state_for(retry_on=("5xx",), rng=rng)
    expected_rng = random.Random(3)
    waits = [state.backoff() for _ in range(6)]
    assert waits == [expected_rng.randrange(i) / 1000 for i in (25, 50, 100, 200, 250, 250)]
    assert stats.upstream_rq_retry_backoff_exponential == 6
    state, _ = state_for(RetryPolicy(retry_on=("5xx",), retry_back_off=RetryBackOff(0.01, 0.03)))
    for _ in range(20):
        assert 0 <= state.backoff() < 0.03


def test_rate_limited_back_off_from_a_reset_header():
    policy = RetryPolicy(retry_on=("retriable-status-codes",), retriable_status_codes=(429,),
                         rate_limited_retry_back_off=RateLimitedRetryBackOff(
                             (ResetHeader("retry-after"),
                              ResetHeader("x-reset", "UNIX_TIMESTAMP")), 10.0))
    state, stats = state_for(policy)
    assert state.on_response(429, [(b"retry-after", b"2")]) is RETRY
    wait = state.backoff()
    assert 2.0 <= wait < 3.0 and stats.upstream_rq_retry_backoff_ratelimited == 1
    # past max_interval: the exponential back-off applies
    state, stats = state_for(policy)
    state.on_response(429, [(b"retry-after", b"60")])
    assert state.backoff() < 0.025 and stats.upstream_rq_retry_backoff_exponential == 1
    state, stats = state_for(policy)
    state.on_response(429, [(b"x-reset", b"%d" % (time.time() + 5))])
    assert 3.0 <= state.backoff() < 8.0


def test_retriable_request_headers_gate_every_retry():
    matcher = HeaderMatcher(name="x-idempotent", kind="present", value=True)
    policy = RetryPolicy(retry_on=("5xx",), retriable_request_headers=(matcher,))
    state, _ = state_for(policy)
    assert not state.enabled and state.on_response(503, []) is NO_RETRY
    state, _ = state_for(policy, request=[(b"x-idempotent", b"1")])
    assert state.enabled and state.on_response(503, []) is RETRY


def test_control_headers_merge_as_envoy_merges_them():
    control = {b"x-envoy-retry-on": b"retriable-status-codes, 5xx", b"x-envoy-max-retries": b"3",
               b"x-envoy-retriable-status-codes": b"418,bad", b"x-envoy-retriable-header-names":
               b"X-Again"}
    state, _ = state_for(retry_on=(), control=control)
    assert state.remaining == 3
    assert state.on_response(418, []) is RETRY
    assert state.on_response(503, []) is RETRY
    state, _ = state_for(retry_on=("retriable-headers",), control=control)
    assert state.on_response(200, [(b"x-again", b"")]) is RETRY
    # x-envoy-max-retries alone (no condition anywhere) enables nothing
    state, _ = state_for(retry_on=(), control={b"x-envoy-max-retries": b"3"})
    assert not state.enabled and state.remaining == 1


def test_previous_hosts_picks_again_up_to_the_limit():
    hosts = iter(["a", "a", "a", "b", "a"])
    cluster = SimpleNamespace(pick_host=lambda hash_key=None, downstream=None, headers=None: next(hosts))
    state, _ = state_for(retry_on=("5xx",), previous_hosts=True, host_selection_retry_max_attempts=3)
    state.attempted_hosts.append("a")
    assert pick_host(cluster, state) == "b"
    hosts = iter(["a", "a", "a"])
    cluster = SimpleNamespace(pick_host=lambda hash_key=None, downstream=None, headers=None: next(hosts))
    state, _ = state_for(retry_on=("5xx",), previous_hosts=True)   # one more pick by default
    state.attempted_hosts.append("a")
    assert pick_host(cluster, state) == "a"                    # the last pick stands
    hosts = iter(["a", "b"])
    cluster = SimpleNamespace(pick_host=lambda hash_key=None, downstream=None, headers=None: next(hosts))
    state, _ = state_for(retry_on=("5xx",))                        # no predicate: no second pick
    state.attempted_hosts.append("a")
    assert pick_host(cluster, state) == "a"


def test_the_route_policy_replaces_the_virtual_hosts_whole():
    from hotproxy.config.route import (Route, RouteAction, RouteConfiguration, RouteMatch,
                                       VirtualHost)
    from hotproxy.http.router.route_table import RouteTable

    def table(route_policy, vhost_policy, counts=False, limits=(None, None)):
        route = Route(match=RouteMatch("prefix", "/"), per_request_buffer_limit_bytes=limits[0],
                      route=RouteAction(cluster="c", retry_policy=route_policy))
        vhost = VirtualHost(name="v", domains=("*",), routes=(route,), retry_policy=vhost_policy,
                            include_attempt_count_in_response=counts,
                            per_request_buffer_limit_bytes=limits[1])
        return RouteTable(RouteConfiguration(virtual_hosts=(vhost,))).match(b"h", b"/", [])

    assert table(None, None).retry is None          # the plain path: nothing per request
    vhost_only = table(None, RetryPolicy(retry_on=("reset",), num_retries=4)).retry
    assert (vhost_only.num_retries, vhost_only.retry_on != 0) == (4, True)
    both = table(RetryPolicy(retry_on=("5xx",)), RetryPolicy(retry_on=("reset",), num_retries=4))
    assert both.retry.num_retries == 1              # no field of the virtual host's is merged
    counts_only = table(None, None, counts=True).retry
    assert counts_only.retry_on == 0 and counts_only.count_in_response
    assert table(RetryPolicy(), None, limits=(None, 64)).retry.buffer_limit == 64
    assert table(RetryPolicy(), None, limits=(8, 64)).retry.buffer_limit == 8
