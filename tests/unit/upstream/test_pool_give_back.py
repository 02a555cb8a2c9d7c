"""Taking a connection from a plain HTTP/1.1 pool and giving it back (upstream/request.py):
the counts, the connection parked for the next request, a closed pool, a counted request, and
an idle connection that received bytes."""
import socket
from types import SimpleNamespace

import pytest

from hotproxy.upstream.circuit_breaker import LocalCounter
from hotproxy.upstream.host import Host
from hotproxy.upstream.pool import ConnectionPool
from hotproxy.upstream.request import give_back, take_connection
from hotproxy.stats.breakers import ClusterBreakerStats
from hotproxy.stats.schema import ClusterStats


class _Breakers:
    def __init__(self, requests=None):
        self.connections = LocalCounter(10)
        self.pending = LocalCounter(10)
        self.requests = requests


@pytest.fixture
def peers(monkeypatch):
    """The upstream ends of the connections the pool opens."""
    opened = []

    def connect(*args):
        ours, theirs = socket.socketpair()
        opened.append(theirs)
        return ours

    monkeypatch.setattr("hotproxy.upstream.pool.connect", connect)
    yield opened
    for sock in opened:
        sock.close()


def _pool_and_cluster(requests=None):
    stats = ClusterStats()
    host = Host(("127.0.0.1", 9))
    breakers = _Breakers(requests)
    pool = ConnectionPool(host, 1.0, stats, breakers, ClusterBreakerStats())
    cluster = SimpleNamespace(stats=stats, outlier_detection=None)
    return pool, cluster, host, breakers


def test_a_reusable_connection_is_parked_and_handed_to_the_next_request(peers):
    pool, cluster, host, breakers = _pool_and_cluster()
    conn = take_connection(cluster, host, pool)
    assert (cluster.stats.upstream_rq_active, host.active_requests, conn.reused) == (1, 1, False)
    give_back(cluster, conn, True)
    assert (cluster.stats.upstream_rq_active, host.active_requests) == (0, 0)
    assert pool._idle == [conn] and conn.idle_since > 0
    again = take_connection(cluster, host, pool)
    assert again is conn and again.reused and len(peers) == 1
    give_back(cluster, again, False)
    assert pool._idle == [] and pool.total == 0 and breakers.connections.value == 0
    assert cluster.stats.upstream_cx_destroy == 1


def test_a_connection_given_back_to_a_closed_pool_is_closed(peers):
    pool, cluster, host, breakers = _pool_and_cluster()
    conn = take_connection(cluster, host, pool)
    pool.close()
    give_back(cluster, conn, True)
    assert pool._idle == [] and pool.total == 0 and conn.sock.fileno() == -1
    assert (cluster.stats.upstream_rq_active, host.active_requests) == (0, 0)


def test_a_counted_request_gives_its_place_back(peers):
    requests = LocalCounter(1)
    pool, cluster, host, breakers = _pool_and_cluster(requests)
    conn = take_connection(cluster, host, pool)
    assert requests.value == 1
    give_back(cluster, conn, True)
    assert requests.value == 0 and pool._idle == [conn]


def test_bytes_on_an_idle_connection_retire_it(peers):
    pool, cluster, host, breakers = _pool_and_cluster()
    conn = take_connection(cluster, host, pool)
    give_back(cluster, conn, True)
    peers[0].sendall(b"x")
    fresh = take_connection(cluster, host, pool)
    assert fresh is not conn and not fresh.reused and len(peers) == 2
    assert cluster.stats.upstream_cx_protocol_error == 1 and conn.sock.fileno() == -1

