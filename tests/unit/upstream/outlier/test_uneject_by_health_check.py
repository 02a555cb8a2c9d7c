"""Outlier detection beside active health checks: each flag on its own, and a passing check of a
healthy host un-ejects it at once when successful_active_health_check_uneject_host (the
default) says so, as Envoy's DetectorImpl does from its health checker's callback."""
import random

from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.config.health_check import HealthCheck, HttpHealthCheck
from hotproxy.config.outlier import OutlierDetection
from hotproxy.process.outlier import ClusterOutliers
from hotproxy.stats.store import StatsStore
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.health.checker import ClusterChecker
from hotproxy.upstream.health.session import HostSession
from hotproxy.upstream.outlier.detector import OutlierDetector

CHECK = HealthCheck(timeout=1.0, interval=1.0, unhealthy_threshold=1, healthy_threshold=2,
                    http=HttpHealthCheck(path="/"))
A, B, C = ("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.3", 80)


def detector(**fields):
    found = OutlierDetector(OutlierDetection(consecutive_5xx=2, max_ejection_percent=100, **fields),
                            rng=random.Random(3))
    found.set_hosts([A, B])
    return found


def test_a_pass_unejects_resets_the_counters_and_keeps_the_backoff():
    found = detector(base_ejection_time=30.0)
    found.record(A, 500, 0.0)
    assert found.record(A, 500, 0.0) and found.ejected() == [A]
    found.record(A, 500, 1.0)         # an ejected host still counts
    assert found.health_check_passed(A, 5.0)
    assert found.ejected() == [] and found.ejections_active == 0
    monitor = found.hosts[A]
    assert monitor.consecutive_5xx == 0 and monitor.backoff == 1 and monitor.unejected_at == 5.0
    # a host that is not ejected, or unknown, is nothing to un-eject
    assert not found.health_check_passed(A, 6.0) and not found.health_check_passed(C, 6.0)
    # the next ejection lasts longer: the backoff was kept
    found.record(A, 500, 7.0)
    assert found.record(A, 500, 7.0)
    assert found.ejection_time(found.hosts[A]) == 60.0


def config(**outlier_fields):
    endpoints = tuple(LbEndpoint(SocketAddress(ip, port)) for ip, port in (A, B))
    return ClusterConfig(name="c", endpoints=(LocalityLbEndpoints(endpoints),), health_checks=(CHECK,),
                         outlier_detection=OutlierDetection(consecutive_5xx=2, max_ejection_percent=100,
                                                            **outlier_fields))


def checker_of(cluster_config, stats):
    checker = ClusterChecker(cluster_config, stats, lambda checker: None, lambda: True)
    for address in (A, B):
        session = checker.sessions[address] = HostSession(checker, address, address)
        session.health.resume(True)
        session.checked = True
    return checker


def passes(checker, address):
    session = checker.sessions[address]
    transition, events = session.health.passed()
    session._recorded(events, passed=True)


def outliers_with_checker(**outlier_fields):
    stats = StatsStore()
    cluster_config = config(**outlier_fields)
    changes = []
    outliers = ClusterOutliers(cluster_config, stats, changes.append)
    outliers._set_hosts([A, B])
    checker = checker_of(cluster_config, stats)
    outliers.use_checker(checker)
    outliers.record({"10.0.0.1:80": [500, 500]})
    assert outliers.ejected() == [list(A)] and changes == [outliers]
    return outliers, checker, changes


def test_a_passing_check_brings_an_ejected_host_back_by_default():
    outliers, checker, changes = outliers_with_checker()
    passes(checker, B)                # another host's pass changes nothing
    assert len(changes) == 1
    passes(checker, A)
    assert outliers.ejected() == [] and len(changes) == 2


def test_not_while_the_host_is_failed_by_the_checker():
    outliers, checker, changes = outliers_with_checker()
    session = checker.sessions[A]
    session.health.resume(False)
    passes(checker, A)                # one pass of two: still failed_active_hc
    assert outliers.ejected() == [list(A)]
    passes(checker, A)                # healthy now: un-ejected
    assert outliers.ejected() == []


def test_not_when_successful_active_health_check_uneject_host_is_false():
    outliers, checker, changes = outliers_with_checker(successful_active_health_check_uneject_host=False)
    passes(checker, A)
    assert outliers.ejected() == [list(A)] and len(changes) == 1


def test_stopping_the_detector_leaves_the_checker():
    outliers, checker, _changes = outliers_with_checker()
    outliers.stop()
    assert checker._pass_listeners == []


def test_a_worker_excludes_a_host_if_either_says_so():
    cluster = Cluster(config())
    cluster.set_health([A, B])
    cluster.set_ejected([A])
    assert cluster.stats.membership_healthy == 1
    cluster.set_health([B])
    cluster.set_ejected([])
    assert cluster.stats.membership_healthy == 1
    cluster.set_health([A, B])
    assert cluster.stats.membership_healthy == 2
