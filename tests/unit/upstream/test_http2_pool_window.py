"""The receive window of a multiplexed HTTP/2 upstream connection (upstream/multiplexed_connection.py)
when a stream ends before its response was relayed: the response data read for it, and the data
the peer sent before it saw the reset, still count against the connection's window (RFC 9113
6.9), so they are handed back; else each abandoned stream shrinks the window for good and the
connection ends up unable to carry any response body."""
import gevent
import h2.events
import pytest
from gevent import socket

from hotproxy.config.cluster import Cluster as ClusterConfig
from hotproxy.http.http2 import events as ev
from hotproxy.http.http2.client_codec import ClientCodec
from hotproxy.http.http2.limits import Http2Stats
from hotproxy.http.http2.options import Http2Options
from hotproxy.upstream import http2_pool
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.host import Host
from hotproxy.upstream.http2_pool import Http2Pools

from test_http2_pool import HEAD, Peer

WINDOW = 65535      # the connection's and each stream's: one response body fills it
ROUNDS = 4          # abandoned responses of a whole window each, one after the other


@pytest.fixture
def pool(monkeypatch):
    peers = []

    def fake_connect(host, stats, timeout, transport=None, options=None, bind=None):
        stats.upstream_cx_total += 1
        ours, theirs = socket.socketpair()
        peers.append(RecordingPeer(theirs, 100))
        stats.upstream_cx_active += 1
        return ours

    monkeypatch.setattr(http2_pool, "connect", fake_connect)
    cluster = Cluster(ClusterConfig(name="c", connect_timeout=0.2))
    options = Http2Options(initial_stream_window_size=WINDOW,
                           initial_connection_window_size=WINDOW)
    stats = Http2Stats()
    pools = Http2Pools(cluster, lambda: ClientCodec(options, stats), ev, stats)
    pool = pools.pool(Host(("127.0.0.1", 1)), False)
    pool.peers = peers
    return pool


def respond(peer, stream_id, body_size):
    peer.conn.send_headers(stream_id, [(":status", "200")])
    send_data(peer, stream_id, body_size)


def send_data(peer, stream_id, size):
    conn = peer.conn
    while size:
        piece = min(size, conn.max_outbound_frame_size)
        conn.send_data(stream_id, b"x" * piece)
        size -= piece
    peer.sock.sendall(conn.data_to_send())


def opened(pool):
    request = pool.acquire()
    request.open(HEAD, True)
    gevent.sleep(0.05)      # the peer reads the HEADERS
    return request, pool.peers[0]


def a_body_still_arrives(pool):
    """After the abandoned responses, the peer may send at least half a window (we hand back
    the rest with the next WINDOW_UPDATE, as the library batches them), and a response of that
    size comes through whole. Lost data would have shrunk the window by a frame each round."""
    request, peer = opened(pool)
    size = peer.conn.outbound_flow_control_window
    assert size >= WINDOW // 2
    respond(peer, request.stream_id, size)
    received = 0
    with gevent.Timeout(2):
        assert request.next_event().status == 200
        while received < size:
            event = request.next_event()
            received += len(event.data)
            request.consumed(event.flow_length)
    pool.release(request, True)
    return True


def test_data_read_for_a_stream_ended_unrelayed_is_handed_back(pool):
    for _ in range(ROUNDS):
        request, peer = opened(pool)
        size = peer.conn.outbound_flow_control_window   # all it may send
        respond(peer, request.stream_id, size)
        with gevent.Timeout(2):
            assert request.next_event().status == 200
            while sum(len(event.data) for event in request.inbox) < size:
                gevent.sleep(0.01)
        pool.release(request, False)     # its client left: the stream is reset, its data unread
    assert a_body_still_arrives(pool)


def test_data_the_peer_sent_before_it_saw_the_reset_is_handed_back(pool):
    for _ in range(ROUNDS):
        request, peer = opened(pool)
        respond(peer, request.stream_id, 0)
        with gevent.Timeout(2):
            assert request.next_event().status == 200
        pool.release(request, False)
        # all it may send, before it read the RST_STREAM
        send_data(peer, request.stream_id, peer.conn.outbound_flow_control_window)
    assert a_body_still_arrives(pool)


def test_a_stream_ended_by_its_peer_hands_back_what_was_not_relayed(pool):
    for _ in range(ROUNDS):
        request, peer = opened(pool)
        respond(peer, request.stream_id, peer.conn.outbound_flow_control_window)
        gevent.sleep(0.05)
        peer.reset(request.stream_id, 0x2)      # INTERNAL_ERROR, its data still unread
        with gevent.Timeout(2):
            assert request.next_event().status == 200
            while not request.complete:
                gevent.sleep(0.01)
        pool.release(request, False)
    assert a_body_still_arrives(pool)


class RecordingPeer(Peer):
    """Records the RST_STREAM codes it receives."""

    def __init__(self, sock, max_streams):
        self.resets = []
        super().__init__(sock, max_streams)

    def _read(self):
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.StreamReset):
                    self.resets.append(event.error_code)
            self.sock.sendall(self.conn.data_to_send())


def test_an_abandoned_stream_is_reset_with_internal_error_and_counted_as_envoy_does(pool):
    request, peer = opened(pool)
    pool.release(request, False)        # its client left before the response
    gevent.sleep(0.05)
    assert peer.resets == [0x2]         # INTERNAL_ERROR, as Envoy 1.40 sends it
    assert pool.stats.upstream_rq_tx_reset == 1 and pool.stats.upstream_rq_rx_reset == 0
    refused, peer = opened(pool)
    peer.reset(refused.stream_id, 0x7)  # REFUSED_STREAM: not counted as a reset, as in Envoy
    gevent.sleep(0.05)
    pool.release(refused, False)
    reset, peer = opened(pool)
    peer.reset(reset.stream_id, 0x2)
    gevent.sleep(0.05)
    pool.release(reset, False)
    assert pool.stats.upstream_rq_tx_reset == 1 and pool.stats.upstream_rq_rx_reset == 1
    assert peer.resets == [0x2]         # nothing sent for the streams its peer reset
