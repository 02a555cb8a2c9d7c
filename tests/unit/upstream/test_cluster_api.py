"""The per-request cluster API the router and the TCP proxy call (upstream/cluster.py)."""
from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.upstream.cluster import Cluster


def _config(**fields):
    endpoints = (LocalityLbEndpoints(lb_endpoints=tuple(
        LbEndpoint(address=SocketAddress("127.0.0.1", 9000 + i)) for i in range(3))),)
    return ClusterConfig(name="c", endpoints=endpoints, **fields)


def test_pick_host_takes_a_hash_key_every_policy_may_ignore():
    cluster = Cluster(_config())
    assert cluster.pick_host(12345) in cluster.hosts
    assert cluster.pick_host() in cluster.hosts


def test_record_outcome_without_outlier_detection_does_nothing():
    cluster = Cluster(_config())
    assert cluster.outlier_detection is None
    cluster.record_outcome(cluster.hosts[0], 503)
    cluster.record_outcome(cluster.hosts[0], "connect_failure")


def test_retries_are_bounded_by_max_retries_and_overflow_is_counted():
    cluster = Cluster(_config())
    assert [cluster.try_start_retry() for _ in range(4)] == [True, True, True, False]
    assert cluster.stats.upstream_rq_retry_overflow == 1
    cluster.end_retry()
    assert cluster.try_start_retry()
    assert not cluster.try_start_retry()
    assert cluster.stats.upstream_rq_retry_overflow == 2
