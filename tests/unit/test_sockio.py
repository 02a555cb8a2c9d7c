"""sockio.send_all on plain gevent sockets: the first try goes to the non-blocking socket, and
a full kernel buffer falls back to gevent's send, which waits for room."""
import gevent
from gevent import socket

from hotproxy.sockio import GeventSocket, send_all, send_parts


def _pair():
    left, right = socket.socketpair()
    assert type(left) is GeventSocket
    return left, right


def _read(sock, count):
    received = bytearray()
    while len(received) < count:
        data = sock.recv(65536)
        assert data
        received += data
    return bytes(received)


def test_small_send_arrives_whole():
    left, right = _pair()
    send_all(left, b"hello")
    assert _read(right, 5) == b"hello"


def test_send_larger_than_the_buffer_arrives_whole_and_in_order():
    left, right = _pair()
    data = bytes(range(256)) * 40000     # ~10 MB: many partial sends
    reader = gevent.spawn(_read, right, len(data))
    send_all(left, data)
    assert reader.get(timeout=10) == data


def test_a_full_buffer_waits_for_room_instead_of_failing():
    left, right = _pair()
    filler = b"f" * 65536
    filled = 0
    try:
        while True:     # fill the kernel buffers until the raw socket refuses more
            filled += left._sock.send(filler)
    except BlockingIOError:
        pass
    reader = gevent.spawn(_read, right, filled + 5)
    send_all(left, b"tail!")    # the first try raises BlockingIOError: gevent's send waits
    received = reader.get(timeout=10)
    assert len(received) == filled + 5 and received.endswith(b"tail!")


def test_send_parts_counts_and_orders_parts():
    left, right = _pair()
    assert send_parts(left, [b"ab", b"cd", b"e"]) == 5
    assert _read(right, 5) == b"abcde"
