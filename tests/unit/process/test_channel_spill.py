"""Messages beyond a datagram's size travel in a memfd and arrive whole."""
import os

import gevent

from hotproxy.process.channel import SPILL_BYTES, Channel, socketpair


def test_a_large_message_arrives_whole_with_its_descriptors():
    left, right = socketpair()
    sender, receiver = Channel(left), Channel(right)
    big = {"t": "xds_endpoints", "endpoints": {f"svc-{i}": "x" * 100 for i in range(20_000)}}
    read_end, write_end = os.pipe()
    os.write(write_end, b"hello")
    gevent.spawn(sender.send, big, [read_end])
    message, fds = receiver.recv()
    assert message == big
    assert len(fds) == 1 and os.read(fds[0], 5) == b"hello"
    for fd in (*fds, read_end, write_end):
        os.close(fd)
    sender.send({"t": "small", "x": "y" * (SPILL_BYTES // 2)})
    assert receiver.recv() == ({"t": "small", "x": "y" * (SPILL_BYTES // 2)}, [])


def test_a_message_beyond_the_socket_buffer_would_not_fit_a_datagram():
    """Why spilling exists: the same message as one datagram is refused by the kernel."""
    left, _right = socketpair()
    try:
        left.send(b"x" * (4 << 20))
    except OSError as error:
        assert error.errno == 90    # EMSGSIZE
    else:
        raise AssertionError("a 4 MiB datagram was accepted")
