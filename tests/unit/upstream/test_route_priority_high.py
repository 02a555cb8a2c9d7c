"""Route priority HIGH (issue 17), the upstream side: a cluster keeps HIGH circuit breakers, pools and a retry breaker of their own, counted in the
table shared by workers under keys of their own, with Envoy's circuit_breakers.high.* gauges."""
from types import SimpleNamespace

import pytest

from hotproxy.config.cluster import Cluster as ClusterConfig, RetryBudget, Thresholds
from hotproxy.listener.connection_counts import ConnectionCounts, WorkerCounts
from hotproxy.process import breakers
from hotproxy.upstream.circuit_breaker import LocalCounter
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.connect import ConnectFailure
from hotproxy.upstream.host import Host

def make_cluster(**fields):
    config = ClusterConfig(name="c", endpoints=(), **fields)
    cluster = Cluster(config)
    host = Host(("127.0.0.1", 9))
    cluster.set_hosts([host])
    return cluster, cluster.hosts[0]


def test_a_high_request_takes_a_pool_of_its_own_under_the_high_breakers():
    cluster, host = make_cluster(max_requests=1, breakers_configured=True,
                                 high_thresholds=Thresholds(max_requests=2, breakers_configured=True))
    high_pool = cluster.high.pool(host)
    assert high_pool is not host.pool and cluster.high.pool(host) is high_pool
    assert high_pool.breakers is cluster.high.breakers
    assert list(host.pools()) == [host.pool, high_pool]
    # DEFAULT at its max_requests does not refuse HIGH
    cluster.breakers.requests.add()
    with pytest.raises(ConnectFailure):
        host.pool.acquire()
    assert cluster.breaker_stats.upstream_rq_active_overflow == 1
    assert cluster.high.breakers.requests.try_acquire() and cluster.high.breakers.requests.try_acquire()
    assert not cluster.high.breakers.requests.try_acquire()
    assert cluster.breakers.requests.total() == 1


def test_high_pools_close_with_the_host():
    cluster, host = make_cluster()
    high_pool = cluster.high.pool(host)
    cluster.set_hosts([])
    assert high_pool.closed and host.pool.closed


def test_a_request_with_connect_options_gets_a_high_pool_of_its_own():
    cluster, host = make_cluster()
    options = object()
    cluster._names_from_request = lambda request_host, headers: options
    default = cluster.pool_for_request(host, b"a", [], None)
    high = cluster.pool_for_request(host, b"a", [], None, high=True)
    assert default is not high
    assert high.breakers is cluster.high.breakers and default.breakers is cluster.breakers
    assert cluster.pool_for_request(host, b"a", [], None, high=True) is high
    cluster._names_from_request = lambda request_host, headers: None
    assert cluster.pool_for_request(host, b"a", [], None, high=True) is cluster.high.pool(host)


def test_the_high_retry_breaker_is_its_own_and_counts_the_same_overflow_stat():
    cluster, _ = make_cluster(max_retries=1, high_thresholds=Thresholds(max_retries=2))
    assert cluster.try_start_retry() and not cluster.try_start_retry()
    assert cluster.stats.upstream_rq_retry_overflow == 1
    high = cluster.high
    assert high.try_start_retry() and high.try_start_retry() and not high.try_start_retry()
    assert cluster.stats.upstream_rq_retry_overflow == 2
    high.end_retry()
    assert high.try_start_retry()


def test_a_high_retry_budget_follows_the_high_requests():
    cluster, _ = make_cluster(high_thresholds=Thresholds(retry_budget=RetryBudget(50.0, 0),
                                                         breakers_configured=True))
    high = cluster.high
    assert not high.try_start_retry()
    for _ in range(4):
        high.breakers.requests.add()
    assert high.try_start_retry() and high.try_start_retry() and not high.try_start_retry()


def shared(configs):
    """An arbiter's table with every breaker key of ``configs``, and one worker's view of it."""
    arbiter = ConnectionCounts()
    bootstrap = SimpleNamespace(clusters=configs)
    keys = breakers.breaker_keys(bootstrap)
    for key in keys:
        arbiter.column(key)
    arbiter.claim_slot("w0")
    argv, columns = arbiter.worker_share("w0", keys)
    counts = WorkerCounts.from_args(argv[1], columns)
    return arbiter, bootstrap, counts


def test_high_counters_are_shared_under_keys_of_their_own():
    config = ClusterConfig(name="c", max_requests=1, breakers_configured=True, track_remaining=True,
                           high_thresholds=Thresholds(max_requests=3, max_connections=5,
                                                      track_remaining=True, breakers_configured=True))
    arbiter, bootstrap, counts = shared((config,))
    assert breakers.breaker_key("c", "high rq") in breakers.breaker_keys(bootstrap)
    cluster = Cluster(config, breakers.counter_factory(counts, "c"))
    assert cluster.high.breakers.requests.try_acquire()
    assert arbiter.total(breakers.breaker_key("c", "high rq")) == 1
    assert arbiter.total(breakers.breaker_key("c", "rq")) == 0
    levels = breakers.gauges(bootstrap, arbiter.total)
    high = "cluster.c.circuit_breakers.high."
    assert (levels[high + "rq_open"], levels[high + "remaining_rq"], levels[high + "remaining_cx"],
            levels[high + "remaining_pending"], levels[high + "remaining_retries"],
            levels[high + "remaining_cx_pools"], levels[high + "cx_pool_open"]) == (
        0, 2, 5, 1024, 3, 2**64 - 1, 0)
    assert levels["cluster.c.circuit_breakers.default.remaining_rq"] == 1
    cluster.high.breakers.requests.add()
    cluster.high.breakers.requests.add()
    assert breakers.gauges(bootstrap, arbiter.total)[high + "rq_open"] == 1


def test_gauges_of_an_untracked_priority_as_envoy_lists_them():
    """Without track_remaining a priority has only its *_open gauges (Envoy 1.40, probed)."""
    bootstrap = SimpleNamespace(clusters=(ClusterConfig(name="c"),))
    levels = breakers.gauges(bootstrap, lambda key: 0)
    assert sorted(name for name in levels if ".high." in name) == [
        f"cluster.c.circuit_breakers.high.{name}"
        for name in ("cx_open", "cx_pool_open", "rq_open", "rq_pending_open", "rq_retry_open")]


def test_a_counter_the_arbiter_gave_no_column_counts_locally():
    """A worker newer than its arbiter (a reload runs the code on disk) still starts."""
    counts = SimpleNamespace(columns={})
    counter = breakers.counter_factory(counts, "c")("high cx", 4)
    assert isinstance(counter, LocalCounter) and counter.limit == 4
