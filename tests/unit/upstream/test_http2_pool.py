"""The multiplexed HTTP/2 pool (upstream/http2_pool.py) against an in-process peer on a
socketpair (the h2 library as the server, in a greenlet): streams share a connection up to the
peer's limit, a new connection past it, none after a GOAWAY, circuit breakers, connect failures."""
import gevent
import h2.config
import h2.connection
import h2.settings
import pytest
from gevent import socket

from hotproxy.config.cluster import Cluster as ClusterConfig
from hotproxy.http.http2 import events as ev
from hotproxy.http.http2.client_codec import ClientCodec
from hotproxy.http.http2.limits import Http2Stats
from hotproxy.http.http2.options import Http2Options
from hotproxy.upstream import http2_pool
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.connect import ConnectFailure
from hotproxy.upstream.http2_pool import Http2Pools
from hotproxy.upstream.http2_request import StreamEnded


class Peer:
    """The server side of one connection: SETTINGS with ``max_streams``, then answers nothing
    but what a test asks (``goaway``, ``reset``)."""

    def __init__(self, sock, max_streams):
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams})
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.greenlet = gevent.spawn(self._read)

    def _read(self):
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            self.conn.receive_data(data)
            self.sock.sendall(self.conn.data_to_send())

    def goaway(self, last_stream_id):
        self.conn.close_connection(last_stream_id=last_stream_id)
        self.sock.sendall(self.conn.data_to_send())

    def reset(self, stream_id, code):
        self.conn.reset_stream(stream_id, code)
        self.sock.sendall(self.conn.data_to_send())


@pytest.fixture
def world(monkeypatch):
    peers = []
    failing = []

    def fake_connect(host, stats, timeout, transport=None, options=None, bind=None):
        stats.upstream_cx_total += 1
        if failing:
            stats.upstream_cx_connect_fail += 1
            raise ConnectFailure("remote connection failure")
        ours, theirs = socket.socketpair()
        peers.append(Peer(theirs, world.max_streams))
        stats.upstream_cx_active += 1
        return ours

    monkeypatch.setattr(http2_pool, "connect", fake_connect)

    class World:
        max_streams = 2

        def pools(self, **config):
            cluster = Cluster(ClusterConfig(name="c", connect_timeout=0.2, **config))
            options, stats = Http2Options(), Http2Stats()
            pools = Http2Pools(cluster, lambda: ClientCodec(options, stats), ev, stats)
            return cluster, pools.pool(_host(cluster), False), pools
    world = World()
    world.peers = peers
    world.failing = failing
    return world


def _host(cluster):
    from hotproxy.upstream.host import Host
    return Host(("127.0.0.1", 1))


HEAD = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a"), (b":path", b"/")]


def test_streams_share_a_connection_up_to_the_peers_limit(world):
    cluster, pool, pools = world.pools()
    first, second = pool.acquire(), pool.acquire()
    assert first.connection is second.connection and len(world.peers) == 1
    first.open(HEAD, True)
    second.open(HEAD, True)
    third = pool.acquire()      # the peer said 2: a second connection
    assert third.connection is not first.connection and len(world.peers) == 2
    assert pools.stats.upstream_cx_http2_total == 2 and cluster.stats.upstream_cx_total == 2
    pool.release(first, True)   # a slot frees on the first connection: used again
    assert pool.acquire().connection is second.connection


def test_after_a_goaway_no_new_stream_goes_on_the_connection(world):
    cluster, pool, pools = world.pools()
    first = pool.acquire()
    first.open(HEAD, True)
    world.peers[0].goaway(1)
    gevent.sleep(0.05)
    second = pool.acquire()
    assert second.connection is not first.connection
    pool.release(first, True)       # the last stream of the old connection: it closes
    assert first.connection.closed and cluster.stats.upstream_cx_destroy == 1


def test_a_peer_reset_ends_the_stream_with_envoys_reason(world):
    cluster, pool, pools = world.pools()
    request = pool.acquire()
    request.open(HEAD, True)
    gevent.sleep(0.05)      # the peer reads the HEADERS
    world.peers[0].reset(request.stream_id, 0x7)
    with pytest.raises(StreamEnded) as ended:
        with gevent.Timeout(2):
            request.next_event()
    assert ended.value.reason == "remote refused stream reset"
    other = pool.acquire()
    other.open(HEAD, True)
    gevent.sleep(0.05)
    world.peers[0].reset(other.stream_id, 0x2)
    with pytest.raises(StreamEnded) as ended:
        with gevent.Timeout(2):
            other.next_event()
    assert ended.value.reason == "remote reset"


def test_a_connect_failure_is_reported_and_frees_the_connection_place(world):
    cluster, pool, pools = world.pools()
    world.failing.append(True)
    with pytest.raises(ConnectFailure) as failure:
        pool.acquire()
    assert failure.value.reason == "remote connection failure"
    assert cluster.breakers.connections.total() == 0
    world.failing.clear()
    assert pool.acquire() is not None


def test_beyond_max_connections_a_request_waits_then_times_out(world):
    world.max_streams = 1
    cluster, pool, pools = world.pools(max_connections=1, breakers_configured=True)
    pool.acquire().open(HEAD, True)
    with pytest.raises(ConnectFailure) as failure:
        pool.acquire()
    assert failure.value.reason == "connection timeout"
    assert cluster.stats.upstream_rq_pending_total == 1
    assert cluster.breaker_stats.upstream_cx_overflow == 1


def test_max_requests_overflows_at_once(world):
    cluster, pool, pools = world.pools(max_requests=1, breakers_configured=True)
    held = pool.acquire()
    with pytest.raises(ConnectFailure) as failure:
        pool.acquire()
    assert failure.value.reason == "overflow"
    pool.release(held, True)
    assert pool.acquire() is not None


def test_an_idle_connection_is_closed_after_the_idle_expiry(world, monkeypatch):
    monkeypatch.setattr(http2_pool, "IDLE_EXPIRY_S", 0.1)
    cluster, pool, pools = world.pools()
    request = pool.acquire()
    request.open(HEAD, True)
    gevent.sleep(0.2)
    assert not request.connection.closed     # a stream is open: not idle
    pool.release(request, True)
    gevent.sleep(0.3)
    assert request.connection.closed and cluster.stats.upstream_cx_destroy == 1
    assert pool.acquire().connection is not request.connection
