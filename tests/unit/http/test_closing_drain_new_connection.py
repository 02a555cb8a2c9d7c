"""A connection accepted while its connection manager drains by closing (admin
/drain_listeners?graceful, a listener removed by a reload) serves its first exchange, saying
``Connection: close``, even when its request comes late: it was closed unanswered before, as
soon as the deadline check found it idle (a slow client got an empty reply)."""
import gevent
from gevent import socket

from test_downstream_connection import connection_manager

REQUEST = b"GET /direct HTTP/1.1\r\nHost: example.com\r\n\r\n"


def test_a_late_first_request_on_a_connection_accepted_while_closing_is_answered():
    hcm = connection_manager()
    hcm.deadlines.tick = 0.01
    hcm.deadlines.start()
    try:
        hcm.drain(move=False, drain_time=0.0, immediate=True)
        client, server = socket.socketpair()
        serving = gevent.spawn(hcm.serve, server, ("10.0.0.1", 40000))
        gevent.sleep(0.2)       # twenty deadline checks before the request comes
        client.sendall(REQUEST)
        client.settimeout(2)
        received = b""
        while True:
            data = client.recv(65536)
            if not data:
                break
            received += data
        assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"hello")
        assert b"connection: close\r\n" in received.lower()
        client.close()
        serving.join(2)
    finally:
        hcm.deadlines.stop()
