"""A connection accepted while its connection manager drains by closing (admin
/drain_listeners?graceful, a listener removed by a reload) serves its first exchange, saying
``Connection: close``, even when its request comes late: it was closed unanswered before, as
soon as the deadline check found it idle (a slow client got an empty reply)."""
from test_downstream_connection import connection_manager, exchange

REQUEST = b"GET /direct HTTP/1.1\r\nHost: example.com\r\n\r\n"


def test_a_late_first_request_on_a_connection_accepted_while_closing_is_answered():
    hcm = connection_manager()
    hcm.deadlines.tick = 0.01
    hcm.deadlines.start()
    try:
        hcm.drain(move=False, drain_time=0.0, immediate=True)
        received = exchange(hcm, REQUEST, wait=0.2)    # twenty deadline checks before the request
        assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"hello")
        assert b"connection: close\r\n" in received.lower()
    finally:
        hcm.deadlines.stop()
