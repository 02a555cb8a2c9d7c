"""The worker's access-log sink sends every line, in order, to its destination: one datagram when
the pending lines fit in one, else datagrams of as many whole lines as fit (at least one), the
rest waiting; consecutive lines for one destination travel joined."""
import socket

from hotproxy.accesslog.batch import decode_batch
from hotproxy.accesslog.sink import MAX_DATAGRAM, AccessLogSink


def sink_and_reader():
    flusher_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    flusher_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    worker_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    flusher_end.settimeout(1)
    return AccessLogSink(worker_end), flusher_end


def received(reader, datagrams):
    return [decode_batch(reader.recv(1 << 20)) for _ in range(datagrams)]


def test_lines_that_fit_leave_in_one_datagram_grouped_by_consecutive_destination():
    sink, reader = sink_and_reader()
    log_a = sink.logger("/a.log", lambda info: b"a%d\n" % info)
    for index in range(3):
        log_a(index)
    sink.log("stdout", b"s\n")
    log_a(3)
    sink.flush()
    assert received(reader, 1) == [[["/a.log", b"a0\na1\na2\n"], ["stdout", b"s\n"], ["/a.log", b"a3\n"]]]
    assert sink.pending == [] and sink.pending_bytes == 0 and sink.written == 5


def test_more_than_a_datagram_leaves_in_several_each_of_whole_lines_in_order():
    sink, reader = sink_and_reader()
    line = b"x" * 999 + b"\n"
    lines = [(("/a.log", "/b.log")[index // 50 % 2], line) for index in range(3 * MAX_DATAGRAM // len(line))]
    for destination, text in lines:
        sink.log(destination, text)
    sink.flush()
    got = []
    for batch in received(reader, 4):
        assert sum(len(text) for _destination, text in batch) <= MAX_DATAGRAM
        for destination, text in batch:
            got += [(destination, piece + b"\n") for piece in text.split(b"\n")[:-1]]
    assert got == lines
    assert sink.pending == [] and sink.pending_bytes == 0 and sink.written == len(lines)


def test_a_line_beyond_the_pending_limit_is_dropped_and_counted():
    sink, _reader = sink_and_reader()
    sink.max_pending_bytes = 10
    log = sink.logger("/a.log", lambda info: info)
    log(b"123456\n")
    log(b"789012\n")
    sink.log("/a.log", b"345678\n")
    assert sink.stats.dropped == 2 and sink.pending == [("/a.log", [b"123456\n"])]


def test_lines_leave_as_soon_as_the_next_would_not_fit_in_a_datagram():
    sink, reader = sink_and_reader()
    line = b"y" * 99 + b"\n"
    per_datagram = MAX_DATAGRAM // len(line)
    log = sink.logger("/a.log", lambda info: info)
    for _ in range(3 * per_datagram + 7):
        log(line)
    # no flush asked for: three full datagrams are out already, the rest waits for the interval
    batches = received(reader, 3)
    assert [len(text) for batch in batches for _destination, text in batch] == [per_datagram * len(line)] * 3
    assert sink.pending_bytes == 7 * len(line) and sink.written == 3 * per_datagram


class FullSocket:
    """A datagram socket whose buffer is always full."""

    def __init__(self):
        self.sends = 0

    def setblocking(self, flag):
        pass

    def send(self, datagram):
        self.sends += 1
        raise BlockingIOError()


def test_a_full_socket_is_not_tried_again_for_every_line():
    sock = FullSocket()
    sink = AccessLogSink(sock)
    log = sink.logger("/a.log", lambda info: info)
    line = b"z" * 999 + b"\n"
    for _ in range(5 * MAX_DATAGRAM // len(line)):
        log(line)
    assert sock.sends == 1          # the first datagram's; the next try is the interval's
    assert sink.pending_bytes == 5 * MAX_DATAGRAM // len(line) * len(line) and sink.stats.dropped == 0
