"""An idle HTTP/2 connection parked by the deadline sweep (hotproxy/deadlines.py) is checked every
tick again once a drain starts it closing: its drain_timeout then ends it on time, not at the next
sweep. Driven by jh2 as the client over an in-memory socket pair."""
import time

import gevent
from gevent import socket
from jh2 import events
from jh2.config import H2Configuration
from jh2.connection import H2Connection

from test_downstream_connection import CONFIG, ROUTER, NoClusters

from hotproxy.config import parse_text
from hotproxy.deadlines import Deadlines
from hotproxy.http.conn_manager import HttpConnectionManager

# the HTTP/1.1 tests' connection manager, made to speak HTTP/2 and drain quickly
TEXT = (CONFIG % ROUTER).replace("stat_prefix: t", "stat_prefix: t\n          codec_type: HTTP2\n"
                                 "          drain_timeout: 0.1s")


def get(client, sock):
    """One GET on a new stream, read to its end."""
    stream_id = client.get_next_available_stream_id()
    client.send_headers(stream_id, [(":method", "GET"), (":path", "/direct"), (":scheme", "http"),
                                    (":authority", "example.com")], end_stream=True)
    sock.sendall(client.data_to_send())
    while True:
        data = sock.recv(65536)
        assert data, "closed before the response ended"
        for event in client.receive_data(data):
            if isinstance(event, events.StreamEnded) and event.stream_id == stream_id:
                sock.sendall(client.data_to_send())
                return


def test_a_parked_idle_connection_ends_at_its_drain_timeout():
    config = parse_text(TEXT).listeners[0].filter_chains[0].filters[-1]
    deadlines = Deadlines(tick=0.01, sweep=60.0)
    hcm = HttpConnectionManager(config, NoClusters(), deadlines)
    deadlines.start()
    sock, server = socket.socketpair()
    serving = gevent.spawn(hcm.serve, server, ("10.0.0.1", 40000))
    try:
        sock.settimeout(5)
        client = H2Connection(H2Configuration(client_side=True))
        client.initiate_connection()
        get(client, sock)
        gevent.sleep(0.05)
        deadlines.park_and_unpark(time.monotonic())
        (connection,) = hcm.connections
        assert connection.parked and connection.idle
        hcm.drain(move=True)        # HTTP/2 cannot move: GOAWAY, then drain_timeout
        serving.join(2)
        assert serving.dead and not hcm.connections
    finally:
        sock.close()
        serving.kill()
        deadlines.stop()
