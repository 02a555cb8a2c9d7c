"""Circuit breakers (upstream/circuit_breaker.py, pool.py) and their counters shared by workers
(listener/connection_counts.py's OptimisticCounter, process/breakers.py)."""
import pytest

from hotproxy.config.cluster import Cluster as ClusterConfig, RetryBudget
from hotproxy.listener.connection_counts import ConnectionCounts, WorkerCounts
from hotproxy.process import breakers
from hotproxy.upstream.circuit_breaker import CircuitBreakers, LocalCounter
from hotproxy.upstream.connect import ConnectFailure
from hotproxy.upstream.host import Host
from hotproxy.upstream.pool import ConnectionPool
from hotproxy.stats.breakers import ClusterBreakerStats
from hotproxy.stats.schema import ClusterStats


def test_max_retries_is_a_count_of_outstanding_retries():
    found = CircuitBreakers(ClusterConfig(name="c", max_retries=2))
    assert [found.try_start_retry() for _ in range(3)] == [True, True, False]
    found.retries.release()
    assert found.try_start_retry()


def test_a_retry_budget_follows_the_active_and_pending_requests():
    found = CircuitBreakers(ClusterConfig(name="c", retry_budget=RetryBudget(50.0, 1), breakers_configured=True))
    assert found.try_start_retry() and not found.try_start_retry()     # min_retry_concurrency 1
    found.retries.release()
    for _ in range(6):
        found.requests.add()
    assert [found.try_start_retry() for _ in range(4)] == [True, True, True, False]   # 50% of 6


@pytest.fixture
def table():
    arbiter = ConnectionCounts()
    key = breakers.breaker_key("c", "rq")
    arbiter.column(key)
    workers = []
    for owner in ("w0", "w1"):
        arbiter.claim_slot(owner)
        argv, columns = arbiter.worker_share(owner, [key])
        workers.append(WorkerCounts.from_args(argv[1], columns))
    return arbiter, key, workers


def test_a_limit_holds_across_workers(table):
    arbiter, key, (w0, w1) = table
    first, second = w0.optimistic_counter(key, 3), w1.optimistic_counter(key, 3)
    assert [first.try_acquire(), second.try_acquire(), first.try_acquire()] == [True, True, True]
    assert not second.try_acquire() and not first.try_acquire()
    assert arbiter.total(key) == 3
    second.release()
    assert first.try_acquire()
    assert arbiter.total(key) == 3


def test_what_a_dead_worker_held_stops_counting(table):
    arbiter, key, (w0, w1) = table
    first, second = w0.optimistic_counter(key, 2), w1.optimistic_counter(key, 2)
    assert first.try_acquire() and first.try_acquire()
    assert not second.try_acquire()
    arbiter.release_slot("w0")
    assert second.try_acquire()


def test_gauges_say_open_and_remaining(table):
    arbiter, key, (w0, _) = table
    config = ClusterConfig(name="c", max_requests=2, track_remaining=True)
    counter = w0.optimistic_counter(key, 2)

    class Bootstrap:
        clusters = (config,)

    counter.try_acquire()
    levels = breakers.gauges(Bootstrap, arbiter.total)
    assert levels["cluster.c.circuit_breakers.default.rq_open"] == 0
    assert levels["cluster.c.circuit_breakers.default.remaining_rq"] == 1
    counter.try_acquire()
    levels = breakers.gauges(Bootstrap, arbiter.total)
    assert levels["cluster.c.circuit_breakers.default.rq_open"] == 1
    assert levels["cluster.c.circuit_breakers.default.remaining_rq"] == 0
    assert levels["cluster.c.circuit_breakers.default.remaining_retries"] == 3
    assert levels["cluster.c.circuit_breakers.high.rq_open"] == 0


class _Breakers:
    def __init__(self, connections=10, pending=10, requests=10):
        self.connections = LocalCounter(connections)
        self.pending = LocalCounter(pending)
        self.requests = LocalCounter(requests)


def test_max_requests_refuses_a_request_before_it_connects():
    found = _Breakers(requests=0)
    overflow = ClusterBreakerStats()
    pool = ConnectionPool(Host(("127.0.0.1", 9)), 1.0, ClusterStats(), found, overflow)
    with pytest.raises(ConnectFailure) as info:
        pool.acquire()
    assert info.value.reason == "overflow"
    assert overflow.upstream_rq_active_overflow == 1
    assert found.connections.value == 0


def test_a_pool_without_connections_opens_one_past_max_connections(monkeypatch):
    found = _Breakers(connections=0)
    overflow = ClusterBreakerStats()
    pool = ConnectionPool(Host(("127.0.0.1", 9)), 1.0, ClusterStats(), found, overflow)
    opened = []
    monkeypatch.setattr("hotproxy.upstream.pool.connect", lambda *args: opened.append(1) or _FakeSocket())
    conn = pool.acquire()
    assert opened == [1] and overflow.upstream_cx_overflow == 1
    assert found.connections.value == 1 and found.requests.value == 1
    pool.release(conn, False)
    assert found.connections.value == 0 and found.requests.value == 0


class _FakeSocket:
    def fileno(self):
        return 0

    def close(self):
        pass


def test_without_circuit_breakers_requests_are_not_counted():
    found = CircuitBreakers(ClusterConfig(name="c"))
    assert found.requests is None
    pool = ConnectionPool(Host(("127.0.0.1", 9)), 1.0, ClusterStats(), found, ClusterBreakerStats())
    assert pool.acquire == pool._acquire
