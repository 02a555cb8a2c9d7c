"""Outlier detection decisions (upstream/outlier/detector.py), as Envoy 1.40 makes them."""
import random

from hotproxy.config.outlier import OutlierDetection
from hotproxy.upstream.outlier.detector import OutlierDetector, success_rate_threshold
from hotproxy.upstream.outlier.outcomes import CONNECT_FAILURE, SUCCESS, TIMEOUT

A, B, C = ("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.3", 80)


def detector(hosts=(A, B), **fields):
    fields.setdefault("max_ejection_percent", 100)
    found = OutlierDetector(OutlierDetection(**fields), rng=random.Random(7))
    found.set_hosts(hosts)
    return found


def feed(found, address, codes, now=0.0):
    return [found.record(address, code, now) for code in codes]


def test_the_nth_consecutive_5xx_ejects():
    found = detector(consecutive_5xx=3)
    assert feed(found, A, [500, 500]) == [False, False]
    assert found.record(A, 500, 0.0)
    assert found.ejected() == [A]
    assert found.counters["ejections_detected_consecutive_5xx"] == 1
    assert found.counters["ejections_enforced_consecutive_5xx"] == 1
    assert found.counters["ejections_enforced_total"] == 1
    assert found.ejections_active == 1


def test_a_success_breaks_the_run():
    found = detector(consecutive_5xx=3)
    feed(found, A, [500, 500, 200, 500, 500])
    assert found.ejected() == []


def test_gateway_failures_are_detected_but_not_enforced_by_default():
    found = detector(consecutive_5xx=100)
    feed(found, A, [503] * 5)
    assert found.counters["ejections_detected_consecutive_gateway_failure"] == 1
    assert found.counters["ejections_enforced_consecutive_gateway_failure"] == 0
    assert found.ejected() == []


def test_envoy_refuses_ejections_above_max_ejection_percent_even_the_first():
    # probed on Envoy 1.40: two hosts, the default 10%: every detection overflows
    found = detector(consecutive_5xx=3, max_ejection_percent=10)
    feed(found, A, [503] * 6)
    assert found.ejected() == []
    assert found.counters["ejections_detected_consecutive_5xx"] == 2
    assert found.counters["ejections_detected_consecutive_gateway_failure"] == 1
    assert found.counters["ejections_overflow"] == 3
    assert found.counters["ejections_consecutive_5xx"] == 2


def test_max_ejection_percent_bounds_the_share():
    found = detector(hosts=(A, B, C, ("10.0.0.4", 80)), consecutive_5xx=1, max_ejection_percent=50)
    for address in (A, B, C):
        found.record(address, 500, 0.0)
    assert len(found.ejected()) == 2
    assert found.counters["ejections_overflow"] == 1


def test_ejection_lasts_base_times_backoff_and_grows_then_decays():
    found = detector(consecutive_5xx=1, base_ejection_time=2.0, interval=1.0)
    found.record(A, 500, 0.0)
    assert not found.tick(1.0)
    assert found.tick(2.0)              # 2 s: back
    assert found.ejected() == []
    found.record(A, 500, 2.5)           # again at once: 4 s this time
    assert found.ejected() == [A]
    assert not found.tick(6.0)
    assert found.tick(6.5)
    # back for a base ejection time: the multiplier steps down once per tick
    monitor = found.hosts[A]
    assert monitor.backoff == 2
    found.tick(7.5)
    assert monitor.backoff == 2
    found.tick(8.5)
    assert monitor.backoff == 1
    found.tick(9.5)
    assert monitor.backoff == 0


def test_ejection_time_is_capped_by_max_ejection_time():
    found = detector(consecutive_5xx=1, base_ejection_time=2.0, max_ejection_time=3.0)
    now = 0.0
    for _ in range(4):
        found.record(A, 500, now)
        assert found.ejection_time(found.hosts[A]) <= 3.0
        now += 3.0
        assert found.tick(now)


def test_enforcing_is_a_percent_chance():
    found = detector(hosts=[(f"10.0.0.{i}", 80) for i in range(200)], consecutive_5xx=1,
                     enforcing_consecutive_5xx=50)
    for address in list(found.hosts):
        found.record(address, 500, 0.0)
    assert 60 < len(found.ejected()) < 140
    assert found.counters["ejections_detected_consecutive_5xx"] == 200


def test_local_origin_events_count_as_503_and_504_without_split():
    found = detector(consecutive_5xx=3)
    feed(found, A, [CONNECT_FAILURE, TIMEOUT, CONNECT_FAILURE])
    assert found.ejected() == [A]


def test_split_counts_local_origin_failures_apart():
    found = detector(consecutive_5xx=3, consecutive_local_origin_failure=2,
                     split_external_local_origin_errors=True)
    feed(found, A, [CONNECT_FAILURE, 500, CONNECT_FAILURE])   # a response is a local success
    assert found.ejected() == []
    feed(found, A, [500, SUCCESS, 500])                       # local success is no 2xx reset
    assert found.ejected() == [A]
    assert found.counters["ejections_enforced_consecutive_5xx"] == 1
    feed(found, B, [CONNECT_FAILURE, CONNECT_FAILURE])
    assert found.counters["ejections_enforced_consecutive_local_origin_failure"] == 1


def test_success_rate_ejects_hosts_below_mean_minus_stdev_factor():
    hosts = [(f"10.0.0.{i}", 80) for i in range(5)]
    found = detector(hosts=hosts, consecutive_5xx=1000, consecutive_gateway_failure=1000,
                     success_rate_request_volume=10, success_rate_minimum_hosts=5)
    for address in hosts[:4]:
        feed(found, address, [200] * 10)
    feed(found, hosts[4], [200] * 5 + [500] * 5)
    assert found.tick(10.0)             # the interval that ends is judged at once
    assert found.ejected() == [hosts[4]]
    mean, threshold = found.success_rate_numbers
    assert mean == 90.0 and threshold < 90.0


def test_failure_percentage():
    hosts = [(f"10.0.0.{i}", 80) for i in range(5)]
    found = detector(hosts=hosts, consecutive_5xx=1000, consecutive_gateway_failure=1000,
                     enforcing_failure_percentage=100, failure_percentage_request_volume=10,
                     success_rate_request_volume=1000)
    feed(found, hosts[0], [500] * 9 + [200])
    for address in hosts[1:]:
        feed(found, address, [200] * 10)
    found.tick(10.0)
    assert found.ejected() == [hosts[0]]
    assert found.counters["ejections_enforced_failure_percentage"] == 1


def test_success_rate_threshold_is_mean_minus_factor_times_stdev():
    mean, threshold = success_rate_threshold([100.0, 100.0, 50.0, 50.0], 1.0)
    assert mean == 75.0 and threshold == 50.0


def test_removed_hosts_stop_counting_as_ejected():
    found = detector(consecutive_5xx=1)
    found.record(A, 500, 0.0)
    found.set_hosts([B])
    assert found.ejections_active == 0 and found.ejected() == []
