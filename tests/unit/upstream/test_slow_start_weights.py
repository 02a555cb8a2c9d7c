"""Slow-start weights as Envoy's EdfLoadBalancerBase::applySlowStartFactor computes them:
weight * max(min_weight_percent / 100, (max(1, elapsed_ms) / window_ms) ** (1 / aggression))."""
import collections
import random

import pytest

from hotproxy.config.cluster import SlowStart as SlowStartConfig
from hotproxy.upstream.host import Host
from hotproxy.upstream.lb.least_request import LeastRequestLoadBalancer
from hotproxy.upstream.lb.round_robin import RoundRobinLoadBalancer
from hotproxy.upstream.lb.slow_start import SlowStart


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# (window s, aggression, min %, elapsed s, factor): factors worked out by hand from Envoy's formula
CASES = [
    (10, 1.0, 10, 5.0, 0.5),
    (10, 1.0, 10, 0.5, 0.1),          # below the minimum weight
    (10, 1.0, 10, 0.0, 0.1),          # max(1 ms, 0) / 10000 ms, then the minimum
    (10, 1.0, 0, 0.0, 0.0001),        # 1 ms of 10000 ms
    (10, 2.0, 10, 2.5, 0.5),          # sqrt(0.25)
    (10, 0.5, 10, 5.0, 0.25),         # 0.5 ** 2
    (10, 0.5, 30, 5.0, 0.3),
    (10, 1.0, 10, 9.999, 0.9999),
    (10, 1.0, 10, 10.0, 1.0),         # the window is over
    (10, 1.0, 10, 60.0, 1.0),
    (10, 0.0, 10, 5.0, 0.5),          # aggression 0 counts as 1 (Envoy's runtime check)
    (4, 4.0, 10, 1.0, 0.25 ** 0.25),
]


@pytest.mark.parametrize("window, aggression, minimum, elapsed, expected", CASES)
def test_factor_matches_envoys_formula(window, aggression, minimum, elapsed, expected):
    slow = SlowStart(SlowStartConfig(window, aggression, minimum))
    assert slow.factor(100.0, 100.0 + elapsed) == pytest.approx(expected, rel=1e-9)


def test_a_host_with_no_start_has_its_full_weight():
    assert SlowStart(SlowStartConfig(10)).factor(None, 5.0) == 1.0


def hosts_with_starts(clock, starts, weights=None):
    hosts = []
    for index, start in enumerate(starts):
        host = Host(("127.0.0.1", 9000 + index), (weights or [1] * len(starts))[index])
        host.healthy_since = start
        hosts.append(host)
    return hosts


def shares(pick, count):
    picked = collections.Counter(pick().address[1] for _ in range(count))
    return [picked[port] / count for port in sorted(picked)]


def test_round_robin_gives_a_new_host_its_slow_start_share():
    clock = Clock()
    slow = SlowStart(SlowStartConfig(10, 1.0, 10), clock)
    old, new = hosts_with_starts(clock, [clock.now - 100, clock.now - 2.5])   # new at factor 0.25
    balancer = RoundRobinLoadBalancer([old, new], random.Random(1), slow)
    counts = collections.Counter(balancer.pick() for _ in range(1000))
    assert counts[new] == 200        # 0.25 / 1.25 of the picks, EDF being exact
    assert counts[old] == 800


def test_round_robin_weights_grow_as_time_passes_without_a_rebuild():
    clock = Clock()
    slow = SlowStart(SlowStartConfig(10, 1.0, 10), clock)
    old, new = hosts_with_starts(clock, [clock.now - 100, clock.now])
    balancer = RoundRobinLoadBalancer([old, new], random.Random(1), slow)
    early = collections.Counter(balancer.pick() for _ in range(1100))[new]
    clock.now += 20
    late = collections.Counter(balancer.pick() for _ in range(1000))[new]
    assert early <= 101 and 480 <= late <= 520


def test_no_host_in_its_window_keeps_plain_round_robin():
    clock = Clock()
    slow = SlowStart(SlowStartConfig(10), clock)
    hosts = hosts_with_starts(clock, [clock.now - 100, clock.now - 50])
    balancer = RoundRobinLoadBalancer(hosts, random.Random(1), slow)
    assert balancer.pick.__name__ == "_pick_in_turn"


def test_least_request_scales_the_load_weight_by_the_slow_start_factor():
    clock = Clock()
    slow = SlowStart(SlowStartConfig(10, 1.0, 10), clock)
    old, new = hosts_with_starts(clock, [clock.now - 100, clock.now - 5.0])    # factor 0.5
    old.active_requests = 1                                                    # 1 / 2
    balancer = LeastRequestLoadBalancer([old, new], random.Random(1), 2, 1.0, slow)
    counts = collections.Counter(balancer.pick() for _ in range(1000))
    assert abs(counts[new] - counts[old]) <= 2    # both 0.5


def test_least_request_without_a_host_in_its_window_samples_two():
    clock = Clock()
    slow = SlowStart(SlowStartConfig(10), clock)
    hosts = hosts_with_starts(clock, [None, clock.now - 30])
    balancer = LeastRequestLoadBalancer(hosts, random.Random(1), 2, 1.0, slow)
    assert balancer.pick.__name__ == "_pick_fewer_of_two"
