"""Load balancers: Envoy's ROUND_ROBIN, LEAST_REQUEST and RANDOM."""
import random
from collections import Counter

import pytest

from hotproxy.errors import ConfigError
from hotproxy.upstream.host import Host
from hotproxy.upstream.lb import make_load_balancer


def hosts(*weights):
    return [Host((f"10.0.0.{i + 1}", 80), weight) for i, weight in enumerate(weights)]


def picks(lb, count):
    return Counter(lb.pick().label for _ in range(count))


@pytest.mark.parametrize("policy", ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"])
def test_no_hosts_picks_none_until_updated(policy):
    lb = make_load_balancer(policy, [], rng=random.Random(1))
    assert lb.pick() is None
    lb.update(hosts(1))
    assert lb.pick().label == "10.0.0.1:80"
    lb.update([])
    assert lb.pick() is None


def test_unknown_policy():
    with pytest.raises(ConfigError):
        make_load_balancer("CLUSTER_PROVIDED", [])


def test_round_robin_rotates_from_a_random_start():
    members = hosts(1, 1, 1)
    lb = make_load_balancer("ROUND_ROBIN", members, rng=random.Random(3))
    first = lb.pick()
    start = members.index(first)
    sequence = [first] + [lb.pick() for _ in range(5)]
    assert sequence == [members[(start + i) % 3] for i in range(6)]
    starts = {members.index(make_load_balancer("ROUND_ROBIN", members,
                                               rng=random.Random(seed)).pick())
              for seed in range(20)}
    assert starts == {0, 1, 2}


def test_round_robin_keeps_its_place_across_updates():
    members = hosts(1, 1, 1, 1)
    lb = make_load_balancer("ROUND_ROBIN", members, rng=random.Random(5))
    before = [lb.pick() for _ in range(3)]
    lb.update(members)
    assert lb.pick() is members[(members.index(before[-1]) + 1) % 4]


def test_weighted_round_robin_is_exact_and_smooth():
    lb = make_load_balancer("ROUND_ROBIN", hosts(3, 1), rng=random.Random(9))
    sequence = [lb.pick().label for _ in range(400)]
    assert Counter(sequence) == {"10.0.0.1:80": 300, "10.0.0.2:80": 100}
    # smooth: the light host comes once in every window of four picks
    for i in range(0, 400, 4):
        assert sequence[i:i + 4].count("10.0.0.2:80") == 1


def test_weighted_round_robin_honours_many_weights():
    lb = make_load_balancer("ROUND_ROBIN", hosts(5, 2, 1, 2), rng=random.Random(2))
    assert picks(lb, 1000) == {"10.0.0.1:80": 500, "10.0.0.2:80": 200, "10.0.0.3:80": 100,
                               "10.0.0.4:80": 200}


def test_least_request_prefers_the_less_loaded_host():
    members = hosts(1, 1)
    members[0].active_requests = 5
    lb = make_load_balancer("LEAST_REQUEST", members, rng=random.Random(4))
    counts = picks(lb, 2000)
    # two samples with replacement: the busy host wins only when sampled twice (1/4)
    assert abs(counts["10.0.0.1:80"] / 2000 - 0.25) < 0.03


def test_least_request_choice_count_sharpens_the_preference():
    members = hosts(1, 1, 1, 1)
    for host, load in zip(members, (9, 9, 9, 0)):
        host.active_requests = load
    lb = make_load_balancer("LEAST_REQUEST", members, choice_count=8, rng=random.Random(4))
    idle = picks(lb, 2000)["10.0.0.4:80"] / 2000
    assert abs(idle - (1 - 0.75 ** 8)) < 0.03


def test_least_request_ties_keep_the_first_sample_uniform():
    lb = make_load_balancer("LEAST_REQUEST", hosts(1, 1, 1), rng=random.Random(8))
    counts = picks(lb, 3000)
    assert all(abs(count / 3000 - 1 / 3) < 0.03 for count in counts.values())


def test_weighted_least_request_scales_weights_by_load():
    members = hosts(2, 1)
    lb = make_load_balancer("LEAST_REQUEST", members, rng=random.Random(6))
    assert picks(lb, 300) == {"10.0.0.1:80": 200, "10.0.0.2:80": 100}
    members[0].active_requests = 3   # effective weight 2/4 against 1/1
    counts = picks(lb, 3000)
    assert abs(counts["10.0.0.1:80"] / 3000 - 1 / 3) < 0.02


def test_random_is_uniform_and_ignores_weights():
    lb = make_load_balancer("RANDOM", hosts(10, 1), rng=random.Random(11))
    counts = picks(lb, 4000)
    assert abs(counts["10.0.0.1:80"] / 4000 - 0.5) < 0.03


def test_least_request_active_request_bias_scales_the_weights():
    members = hosts(1, 2)
    members[1].active_requests = 3          # weight 2 / (3 + 1) ** bias
    unbiased = make_load_balancer("LEAST_REQUEST", members, rng=random.Random(1))
    counts = picks(unbiased, 1500)
    assert counts["10.0.0.1:80"] > counts["10.0.0.2:80"]          # 1 against 0.5
    from types import SimpleNamespace
    zero = make_load_balancer("LEAST_REQUEST", members, rng=random.Random(1),
                              config=SimpleNamespace(active_request_bias=0.0))
    counts = picks(zero, 1500)
    assert abs(counts["10.0.0.2:80"] - 2 * counts["10.0.0.1:80"]) <= 3   # weights alone
