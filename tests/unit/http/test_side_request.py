"""http/side_request.py over a socket pair standing in for a pooled upstream connection: the
request as sent, the response read whole, the connection given back reusable or not, and each
failure as a SideRequestFailed with the cluster's counts."""
import gevent
import pytest
from gevent import socket

from hotproxy.http.side_request import SideRequestFailed, send
from hotproxy.stats.schema import ClusterStats, HostStats
from hotproxy.upstream.connect import ConnectFailure


class Config:
    max_response_headers_kb = 80
    max_response_headers_count = 100


class Recorder:
    def __init__(self):
        self.values = []

    def record(self, value):
        self.values.append(value)


class Connection:
    def __init__(self, sock, pool):
        self.sock, self.pool, self.decoder = sock, pool, None


class Pool:
    def __init__(self, fail=None):
        self.fail = fail
        self.released = []
        self.ours, self.theirs = socket.socketpair()

    def acquire(self):
        if self.fail:
            raise ConnectFailure(self.fail)
        return Connection(self.ours, self)

    def release(self, conn, reusable):
        self.released.append(reusable)


class Host:
    def __init__(self, pool):
        self.pool = pool
        pool.host = self
        self.active_requests = 0
        self.stats = HostStats()


class Cluster:
    def __init__(self, pool):
        self.config = Config()
        self.stats = ClusterStats()
        self.rq_time = Recorder()
        self.outlier_detection = None
        self.host = Host(pool)

    def pick_host(self):
        return self.host


class Manager:
    def __init__(self, cluster):
        self.cluster = cluster

    def get(self, name):
        return self.cluster if name == "authz" else None


def serve(pool, answer, delay=0.0):
    def run():
        data = b""
        while b"\r\n\r\n" not in data:
            data += pool.theirs.recv(65536)
        pool.request = data
        gevent.sleep(delay)
        pool.theirs.sendall(answer)
    return gevent.spawn(run)


def test_exchange_and_reuse():
    pool = Pool()
    cluster = Cluster(pool)
    server = serve(pool, b"HTTP/1.1 401 No\r\nx-a: 1\r\ncontent-length: 2\r\n\r\nno")
    response = send(Manager(cluster), "authz", b"GET", b"/p", [(b"host", b"h"), (b"content-length", b"9")])
    server.join()
    assert pool.request == b"GET /p HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"
    assert response.status == 401 and response.body == b"no"
    assert response.headers == [(b"x-a", b"1"), (b"content-length", b"2")]
    assert pool.released == [True] and cluster.stats.upstream_rq_total == 1
    assert cluster.stats.upstream_rq_4xx == 1 and cluster.stats.upstream_rq_active == 0
    assert cluster.host.active_requests == 0 and len(cluster.rq_time.values) == 1


def test_timeout_releases_the_connection_unusable():
    pool = Pool()
    cluster = Cluster(pool)
    serve(pool, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", delay=0.5)
    with pytest.raises(SideRequestFailed) as failed:
        send(Manager(cluster), "authz", b"POST", b"/", [(b"host", b"h")], b"body", timeout=0.05)
    assert failed.value.reason == "timeout" and pool.released == [False]
    assert cluster.stats.upstream_rq_timeout == 1 and cluster.stats.upstream_rq_active == 0


def test_reset_and_connect_failures():
    pool = Pool()
    cluster = Cluster(pool)
    pool.theirs.close()
    with pytest.raises(SideRequestFailed) as failed:
        send(Manager(cluster), "authz", b"GET", b"/", [(b"host", b"h")], timeout=1)
    assert failed.value.reason == "reset" and pool.released == [False]
    for reason, expected in (("overflow", "overflow"), ("connection timeout", "connect_failure")):
        with pytest.raises(SideRequestFailed) as failed:
            send(Manager(Cluster(Pool(fail=reason))), "authz", b"GET", b"/", [])
        assert failed.value.reason == expected
    with pytest.raises(SideRequestFailed) as failed:
        send(Manager(cluster), "nowhere", b"GET", b"/", [])
    assert failed.value.reason == "no_cluster"
