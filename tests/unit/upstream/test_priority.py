"""Load between priorities (upstream/lb/priority.py), as Envoy computes it."""
from hotproxy.upstream.lb.priority import choose_priority, priority_loads


def test_a_healthy_first_priority_takes_everything():
    assert priority_loads([(4, 4, 0), (4, 4, 0)]) == ([100, 0], [False, False])


def test_overprovisioning_keeps_the_load_until_below_72_percent():
    assert priority_loads([(10, 8, 0), (4, 4, 0)])[0] == [100, 0]     # 80% × 1.4 = 112%
    assert priority_loads([(10, 5, 0), (4, 4, 0)])[0] == [70, 30]     # 50% × 1.4 = 70%
    assert priority_loads([(2, 1, 0), (1, 1, 0)])[0] == [70, 30]


def test_the_rest_spills_down_the_priorities():
    assert priority_loads([(10, 2, 0), (10, 3, 0), (10, 10, 0)])[0] == [28, 42, 30]


def test_when_total_health_is_short_of_100_it_is_normalized():
    # 28% + 42% = 70% available: 40/60 of the load
    assert priority_loads([(10, 2, 0), (10, 3, 0)])[0] == [40, 60]


def test_panic_per_priority_below_the_threshold():
    loads, panics = priority_loads([(10, 4, 0), (10, 10, 0)])
    assert panics == [True, False] and loads == [56, 44]
    assert priority_loads([(10, 4, 0)], panic_threshold=30)[1] == [False]


def test_total_panic_follows_host_counts():
    assert priority_loads([(3, 0, 0), (1, 0, 0)]) == ([75, 25], [True, True])


def test_excluded_hosts_leave_the_share():
    assert priority_loads([(4, 2, 2), (4, 4, 0)])[0] == [100, 0]


def test_choose_priority_by_cumulative_load():
    assert [choose_priority([70, 30], point) for point in (0, 69, 70, 99, 170)] == [0, 0, 1, 1, 1]
