"""The runtime's upstream.healthy_panic_threshold replaces a cluster's healthy_panic_threshold
(at most 100), read when the hosts to balance over are chosen (membership or health changes), as
Envoy reads it when its host sets change."""
import pytest

from hotproxy import runtime
from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.upstream.cluster import Cluster


@pytest.fixture(autouse=True)
def empty_snapshot():
    runtime.install({})
    yield
    runtime.install({})


def cluster_of(priorities=(0, 0, 0), **fields):
    endpoints = tuple(LocalityLbEndpoints(lb_endpoints=(
        LbEndpoint(address=SocketAddress("127.0.0.1", 9000 + index)),), priority=priority)
        for index, priority in enumerate(priorities))
    return Cluster(ClusterConfig(name="c", endpoints=endpoints, **fields))


def picked_hosts(cluster, picks=200):
    return {cluster.pick_host().address[1] for _ in range(picks)}


def test_the_runtime_value_replaces_the_clusters_threshold():
    cluster = cluster_of()
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])   # 1 of 3 healthy: panic
    assert picked_hosts(cluster) == {9000, 9001, 9002}
    runtime.install({"upstream.healthy_panic_threshold": 0})
    assert picked_hosts(cluster) == {9000, 9001, 9002}      # not until the hosts change
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])
    assert picked_hosts(cluster) == {9002}                 # no panic at 0
    runtime.install({"upstream.healthy_panic_threshold": 30})
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])
    assert picked_hosts(cluster) == {9002}                 # 33% healthy is above 30%
    runtime.install({"upstream.healthy_panic_threshold": 250})          # capped at 100
    cluster.set_ejected([cluster.hosts[0].address])
    assert picked_hosts(cluster) == {9000, 9001, 9002}


def test_a_value_that_is_no_integer_leaves_the_clusters_threshold():
    runtime.install({"upstream.healthy_panic_threshold": "abc"})
    cluster = cluster_of(healthy_panic_threshold=0)
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])
    assert picked_hosts(cluster) == {9002}


def test_priorities_read_it_too():
    cluster = cluster_of(priorities=(0, 0, 0, 1))
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])   # P0: 1 of 3 healthy
    assert cluster._panics == [True, False]
    runtime.install({"upstream.healthy_panic_threshold": 30})
    cluster.set_ejected([host.address for host in cluster.hosts[:2]])
    assert cluster._panics == [False, False]
