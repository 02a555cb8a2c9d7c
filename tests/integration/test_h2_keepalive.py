"""http2_protocol_options.connection_keepalive, against hotproxy and Envoy 1.40: a PING every
interval, and a client that does not answer one within the timeout has its connection closed
(no GOAWAY) and counted in http2.keepalive_timeout."""
import time

from h2_frames import GOAWAY, PING, ping, peers_fixture

target = peers_fixture(http2_options={"connection_keepalive": {"interval": "0.3s", "timeout": "0.5s"}})


def test_pings_come_and_an_answered_connection_stays(target):
    client = target.connect()
    pings = 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        got = client.read_frame(timeout=0.2)
        if got is not None and got.type == PING and not got.flags & 1:
            pings += 1
            client.send(ping(got.payload, ack=True))
    assert pings >= 2
    assert client.alive()
    client.close()


def test_an_unanswered_ping_closes_the_connection_and_counts(target):
    before = target.stat("http2.keepalive_timeout")
    client = target.connect()
    frames, closed = client.outcome(timeout=3.0)
    assert closed
    assert [f.type for f in frames].count(PING) >= 1 and GOAWAY not in [f.type for f in frames]
    assert target.stat_grew("http2.keepalive_timeout", before) == before + 1
