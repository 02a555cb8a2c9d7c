"""sockio.ReadRegistration: a read watcher kept for a socket's life beside gevent's own waits on
it, stopping itself when it fires and re-armed by its owner after each read. Real gevent sockets
(socket pairs) on the real loop."""
import socket as stdsocket

import gevent
import pytest
from gevent import socket

from hotproxy.sockio import keep_read_registered


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _settle():
    """Let the loop turn a few times (the kept watcher runs only from the hub)."""
    for _ in range(3):
        gevent.sleep(0.01)


def test_a_waiting_recv_wakes_for_each_piece_with_the_registration_kept(pair):
    a, b = pair
    registration = keep_read_registered(b)
    received = []

    def reader():
        while True:
            data = b.recv(100)
            registration.rearm()
            received.append(data)
            if not data:
                return

    greenlet = gevent.spawn(reader)
    for piece in (b"one", b"two", b"three"):
        gevent.sleep(0.01)
        a.send(piece)
    gevent.sleep(0.01)
    a.shutdown(stdsocket.SHUT_WR)
    greenlet.join(5)
    assert received == [b"one", b"two", b"three", b""]
    assert registration.active  # re-armed after every read
    registration.close()


def test_readable_with_nobody_reading_stops_it_and_rearm_starts_it_again(pair):
    a, b = pair
    registration = keep_read_registered(b)
    a.send(b"unread")
    _settle()
    assert not registration.active  # it would otherwise wake the loop on every turn
    assert b.recv(100) == b"unread"
    registration.rearm()
    assert registration.active
    reader = gevent.spawn(b.recv, 100)
    gevent.sleep(0.01)
    a.send(b"next")
    assert reader.get(timeout=5) == b"next"
    registration.close()


def test_a_reset_reaches_the_waiting_recv(pair):
    a, b = pair
    registration = keep_read_registered(b)
    reader = gevent.spawn(b.recv, 100)
    gevent.sleep(0.01)
    a.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    a.close()
    reader.join(5)
    assert reader.ready()
    assert reader.value == b"" or isinstance(reader.exception, OSError)
    registration.close()


def test_closed_registration_is_stopped_and_the_fd_number_serves_a_new_socket(pair):
    a, b = pair
    registration = keep_read_registered(b)
    registration.close()
    assert not registration.active
    number = b.fileno()
    b.close()
    c, d = socket.socketpair()
    try:
        reused = c if c.fileno() == number else d
        other = d if reused is c else c
        reader = gevent.spawn(reused.recv, 100)
        gevent.sleep(0.01)
        other.send(b"fresh")
        assert reader.get(timeout=5) == b"fresh"
    finally:
        c.close()
        d.close()


def test_a_peer_that_closes_while_nobody_reads_stops_it(pair):
    """An EOF stays readable for ever: the kept watcher must not fire on every loop turn."""
    a, b = pair
    registration = keep_read_registered(b)
    a.close()
    _settle()
    assert not registration.active
    assert b.recv(100) == b""
    registration.close()


def test_sockets_that_wait_their_own_way_get_no_registration():
    raw_a, raw_b = stdsocket.socketpair()
    try:
        assert keep_read_registered(raw_a) is None
    finally:
        raw_a.close()
        raw_b.close()
