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


def _prioritized(**fields):
    localities = tuple(LocalityLbEndpoints(lb_endpoints=tuple(
        LbEndpoint(address=SocketAddress("127.0.0.1", 9000 + 10 * priority + i)) for i in range(2)),
        priority=priority) for priority in (0, 1))
    return ClusterConfig(name="c", endpoints=localities, **fields)


def test_priorities_spill_over_and_fail_back_as_the_healthy_share_changes():
    cluster = Cluster(_prioritized())
    first, second = [h for h in cluster.hosts if h.priority == 0], [h for h in cluster.hosts if h.priority == 1]
    assert {cluster.pick_host().priority for _ in range(200)} == {0}
    cluster.set_ejected([first[0].address])             # 50% healthy × 1.4: 70% stays
    picks = [cluster.pick_host() for _ in range(2000)]
    share = sum(1 for host in picks if host.priority == 0) / len(picks)
    assert 0.6 < share < 0.8 and first[0] not in picks
    cluster.set_ejected([host.address for host in first])
    assert {cluster.pick_host().priority for _ in range(200)} == {1}
    cluster.set_ejected([])
    assert {cluster.pick_host().priority for _ in range(200)} == {0}
    assert second


def test_the_panic_threshold_is_the_configured_one():
    cluster = Cluster(_config(healthy_panic_threshold=0))
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])
    assert {cluster.pick_host() for _ in range(50)} == {cluster.hosts[2]}
    assert cluster.health_stats.lb_healthy_panic == 0
    cluster = Cluster(_config())
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])
    assert len({cluster.pick_host() for _ in range(200)}) == 3
    assert cluster.health_stats.lb_healthy_panic == 200


def test_locality_weights_share_a_priority():
    localities = tuple(LocalityLbEndpoints(lb_endpoints=(
        LbEndpoint(address=SocketAddress("127.0.0.1", 9100 + index)),), load_balancing_weight=weight)
        for index, weight in enumerate((1, 3)))
    cluster = Cluster(ClusterConfig(name="c", endpoints=localities, locality_weighted=True))
    picks = [cluster.pick_host().address[1] for _ in range(400)]
    assert picks.count(9101) == 300 and picks.count(9100) == 100
    cluster = Cluster(ClusterConfig(name="c", endpoints=localities))       # weights ignored
    picks = [cluster.pick_host().address[1] for _ in range(400)]
    assert picks.count(9101) == 200
