"""Locality-weighted balancing within a priority (upstream/lb/locality.py)."""
import random
from collections import Counter

from hotproxy.upstream.host import Host
from hotproxy.upstream.lb import make_load_balancer
from hotproxy.upstream.lb.locality import LocalityWeightedBalancer


def hosts(*localities):
    found = []
    for index, locality in enumerate(localities):
        host = Host((f"10.0.0.{index + 1}", 80))
        host.locality = locality
        found.append(host)
    return found


def balancer(weights):
    rng = random.Random(4)
    return LocalityWeightedBalancer(lambda: make_load_balancer("ROUND_ROBIN", [], rng=rng), weights, rng)


def shares(found, count=1200):
    seen = Counter(found.pick().locality for _ in range(count))
    return {locality: seen[locality] / count for locality in seen}


def test_localities_share_by_weight():
    members = hosts(0, 0, 1, 1)
    found = balancer([1, 3])
    found.update_health(members, members, False)
    assert shares(found) == {0: 0.25, 1: 0.75}


def test_a_locality_short_of_healthy_hosts_gets_less():
    members = hosts(0, 0, 1, 1)
    found = balancer([1, 1])
    found.update_health(members, members[:1] + members[2:], False)    # locality 0: 50% × 1.4
    result = shares(found)
    assert abs(result[0] - 0.7 / 1.7) < 0.01


def test_a_locality_without_weight_gets_nothing():
    members = hosts(0, 1)
    found = balancer([0, 2])
    found.update_health(members, members, False)
    assert shares(found) == {1: 1.0}


def test_panic_balances_over_every_host():
    members = hosts(0, 1)
    found = balancer([0, 2])
    found.update_health(members, [], True)
    assert set(shares(found)) == {0, 1}
