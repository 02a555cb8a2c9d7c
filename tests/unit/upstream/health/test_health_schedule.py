"""Which interval follows a check, and the jitter added to it, as Envoy's interval() decides."""
import random

import pytest

from hotproxy.config.health_check import HealthCheck, HttpHealthCheck
from hotproxy.upstream.health.schedule import initial_delay, next_interval, with_jitter
from hotproxy.upstream.health.state import CHANGE_PENDING, CHANGED, UNCHANGED


def check(**overrides):
    values = dict(timeout=1.0, interval=10.0, unhealthy_threshold=2, healthy_threshold=2,
                  http=HttpHealthCheck(path="/"), no_traffic_interval=60.0)
    values.update(overrides)
    return HealthCheck(**values)


EDGES = check(unhealthy_interval=20.0, unhealthy_edge_interval=3.0, healthy_edge_interval=4.0)


@pytest.mark.parametrize("passed, transition, expected", [
    (True, UNCHANGED, 10.0),          # healthy stays healthy: interval
    (True, CHANGED, 10.0),            # just became healthy: interval
    (True, CHANGE_PENDING, 4.0),      # unhealthy, passing, short of healthy_threshold
    (False, CHANGE_PENDING, 3.0),     # healthy, failing, short of unhealthy_threshold
    (False, CHANGED, 20.0),           # just ejected: unhealthy_interval
    (False, UNCHANGED, 20.0),         # unhealthy stays unhealthy
])
def test_the_interval_follows_the_result_and_the_transition(passed, transition, expected):
    assert next_interval(EDGES, passed, transition, has_traffic=True) == expected


def test_without_traffic_the_no_traffic_interval_applies_whatever_happened():
    for passed, transition in ((True, UNCHANGED), (False, CHANGED), (True, CHANGE_PENDING)):
        assert next_interval(EDGES, passed, transition, has_traffic=False) == 60.0


def test_unset_intervals_fall_back_as_envoys_do():
    plain = check(unhealthy_interval=7.0)
    assert next_interval(plain, False, CHANGE_PENDING, True) == 7.0   # edge → unhealthy_interval
    assert next_interval(plain, True, CHANGE_PENDING, True) == 10.0   # healthy edge → interval
    assert next_interval(check(), False, CHANGED, True) == 10.0       # unhealthy → interval


def test_jitter_adds_within_its_bounds():
    rng = random.Random(7)
    jittered = check(interval_jitter=0.5, interval_jitter_percent=10)
    values = [with_jitter(jittered, 10.0, rng) for _ in range(500)]
    assert all(10.0 <= value < 10.0 + 1.0 + 0.5 for value in values)
    assert max(values) > 11.0           # both jitters contribute
    assert with_jitter(check(), 10.0, rng) == 10.0


def test_an_interval_is_at_least_a_millisecond():
    assert with_jitter(check(), 0.0) == 0.001


def test_initial_jitter_delays_the_first_check():
    rng = random.Random(1)
    assert initial_delay(check()) == 0.0
    delays = [initial_delay(check(initial_jitter=2.0), rng) for _ in range(200)]
    assert all(0.0 < delay < 2.0 for delay in delays) and max(delays) > 1.0
