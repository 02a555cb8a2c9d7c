"""x-envoy-immediate-health-check-fail on a proxied response: the worker reports it with the
cluster's outcomes (upstream/health/passive.py), the arbiter's checker fails and excludes the
host at once (Envoy's setUnhealthy(PASSIVE, not retriable)) and pushes the change; outlier
detection ignores the report."""
import random

from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.config.health_check import HealthCheck, HttpHealthCheck
from hotproxy.config.outlier import OutlierDetection
from hotproxy.process.health import HealthSupervisor
from hotproxy.stats.store import StatsStore
from hotproxy.upstream.cluster_manager import ClusterManager
from hotproxy.upstream.health.checker import ClusterChecker
from hotproxy.upstream.health.passive import report_immediate_fail
from hotproxy.upstream.health.session import HostSession
from hotproxy.upstream.health.state import PASSIVE, Event, HostHealth
from hotproxy.upstream.outlier.detector import OutlierDetector
from hotproxy.upstream.outlier.outcomes import IMMEDIATE_HC_FAIL

CHECK = HealthCheck(timeout=1.0, interval=1.0, unhealthy_threshold=3, healthy_threshold=2,
                    http=HttpHealthCheck(path="/"), always_log_health_check_failures=True)
A, B = ("10.0.0.1", 80), ("10.0.0.2", 80)


def config(checked=True, outliers=None, name="c"):
    endpoints = tuple(LbEndpoint(SocketAddress(ip, port)) for ip, port in (A, B))
    return ClusterConfig(name=name, endpoints=(LocalityLbEndpoints(endpoints),),
                         health_checks=(CHECK,) if checked else (), outlier_detection=outliers)


def test_a_passive_failure_fails_and_excludes_at_once_whatever_the_threshold():
    health = HostHealth(unhealthy_threshold=3, healthy_threshold=2)
    health.passed()
    transition, events = health.failed_check(PASSIVE, immediate_fail=True)
    assert not health.healthy and health.excluded
    assert health.flags == "/failed_active_hc/excluded_via_immediate_hc_fail"
    assert events == [Event("eject_unhealthy", failure_type=PASSIVE)]
    # healthy_threshold passes bring it back, no longer excluded
    health.passed()
    assert not health.healthy
    health.passed()
    assert health.healthy and not health.excluded


class Recorder:
    def __init__(self):
        self.sent = []

    def __call__(self, name, batch):
        self.sent.append((name, batch))


def test_the_worker_reports_only_for_health_checked_clusters_and_only_with_the_header():
    send = Recorder()
    manager = ClusterManager([config(), config(checked=False, name="plain")])
    manager.report_outcomes(send)
    checked, plain = manager.get("c"), manager.get("plain")
    assert plain.health_reporter is None and plain.outlier_detection is None
    assert checked.outlier_detection is None     # no outcome reporting without outlier detection
    host = checked.hosts[0]
    assert not report_immediate_fail(checked, host, [(b"content-type", b"text/plain")])
    assert report_immediate_fail(checked, host, [(b"x-envoy-immediate-health-check-fail", b"")])
    assert not report_immediate_fail(plain, plain.hosts[0], [(b"x-envoy-immediate-health-check-fail", b"")])
    checked.health_reporter.flush()
    assert send.sent == [("c", {"10.0.0.1:80": [IMMEDIATE_HC_FAIL]})]


def test_with_outlier_detection_both_share_one_reporter():
    manager = ClusterManager([config(outliers=OutlierDetection())])
    manager.report_outcomes(Recorder())
    cluster = manager.get("c")
    assert cluster.health_reporter is cluster.outlier_detection is not None


def test_outlier_detection_ignores_the_report():
    detector = OutlierDetector(OutlierDetection(consecutive_5xx=1, max_ejection_percent=100),
                               rng=random.Random(1))
    detector.set_hosts([A, B])
    assert not detector.record(A, IMMEDIATE_HC_FAIL, 0.0)
    assert detector.ejected() == []
    split = OutlierDetector(OutlierDetection(consecutive_local_origin_failure=1,
                                             split_external_local_origin_errors=True,
                                             max_ejection_percent=100), rng=random.Random(1))
    split.set_hosts([A])
    assert not split.record(A, IMMEDIATE_HC_FAIL, 0.0) and split.ejected() == []


class Generation:
    def __init__(self, health):
        self.health = health
        self.sent = []

    def send_all(self, message):
        self.sent.append(message)


def checker_with_sessions(stats, on_change):
    checker = ClusterChecker(config(), stats, on_change, lambda: True)
    for address in (A, B):
        session = checker.sessions[address] = HostSession(checker, address, address)
        session.health.resume(True)
        session.checked = True
    return checker


def test_the_arbiter_fails_the_host_counts_it_and_pushes_to_the_workers(tmp_path):
    stats = StatsStore()
    generations = []
    supervisor = HealthSupervisor(stats, lambda: generations)
    checker = checker_with_sessions(stats, supervisor._changed)
    generation = Generation({"c": checker})
    generations.append(generation)
    supervisor.record(generation, {"t": "outcomes", "cluster": "c", "hosts": {"10.0.0.1:80": [503, IMMEDIATE_HC_FAIL]}})
    assert generation.sent == [{"t": "health", "cluster": "c", "healthy": [list(B)], "excluded": [list(A)]}]
    assert checker.flags()["10.0.0.1:80"] == ("/failed_active_hc/excluded_via_immediate_hc_fail", True, True)
    assert stats.counters["cluster.c.health_check.failure"] == 1
    assert stats.counters["cluster.c.health_check.passive_failure"] == 1
    assert stats.counters.get("cluster.c.health_check.attempt", 0) == 0
    # a second report of a failed, excluded host changes nothing and pushes nothing
    supervisor.record(generation, {"t": "outcomes", "cluster": "c", "hosts": {"10.0.0.1:80": [IMMEDIATE_HC_FAIL]}})
    assert len(generation.sent) == 1
    # outcomes without the code, or of another cluster, are not the checker's
    supervisor.record(generation, {"t": "outcomes", "cluster": "c", "hosts": {"10.0.0.2:80": [500]}})
    supervisor.record(generation, {"t": "outcomes", "cluster": "other", "hosts": {"10.0.0.2:80": [IMMEDIATE_HC_FAIL]}})
    assert len(generation.sent) == 1 and checker.healthy() == [B]


def test_a_host_already_failed_is_pushed_when_it_becomes_excluded():
    stats = StatsStore()
    changes = []
    checker = checker_with_sessions(stats, changes.append)
    checker.sessions[A].health.resume(False)
    checker.passive_failure("10.0.0.1:80")
    assert changes == [checker] and checker.excluded() == [A]
