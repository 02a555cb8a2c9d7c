"""BatchedWriter (hotproxy/batched_writes.py): what a codec framed in one turn of the loop leaves
in one write, past FLUSH_NOW_BYTES at once; a failed write of its greenlet reports the failure;
once closed it writes nothing more."""
import gevent

from hotproxy.batched_writes import FLUSH_NOW_BYTES, BatchedWriter


class Codec:
    def __init__(self):
        self.framed = bytearray()

    def data_to_send(self):
        data, self.framed = self.framed, bytearray()
        return data

    @property
    def pending_bytes(self):
        return len(self.framed)


class Sock:
    def __init__(self, fail=False):
        self.writes, self.fail = [], fail

    def send(self, data):
        if self.fail:
            raise OSError("broken pipe")
        self.writes.append(bytes(data))
        return len(data)


def test_one_turn_of_framing_leaves_in_one_write():
    codec, sock = Codec(), Sock()
    writer = BatchedWriter(codec, sock, None)
    for piece in (b"a", b"bb", b"ccc"):
        codec.framed += piece
        writer.flush_soon()
    assert sock.writes == []
    gevent.sleep(0)
    assert sock.writes == [b"abbccc"]
    codec.framed += b"d"
    writer.flush_soon()
    gevent.sleep(0)
    assert sock.writes == [b"abbccc", b"d"]


def test_past_the_threshold_it_writes_at_once():
    codec, sock = Codec(), Sock()
    writer = BatchedWriter(codec, sock, None)
    codec.framed += b"x" * FLUSH_NOW_BYTES
    writer.flush_soon()
    assert sock.writes == [b"x" * FLUSH_NOW_BYTES]


def test_a_failed_write_of_its_greenlet_is_reported():
    failures = []
    codec = Codec()
    writer = BatchedWriter(codec, Sock(fail=True), lambda: failures.append(1))
    codec.framed += b"x"
    writer.flush_soon()
    gevent.sleep(0)
    assert failures == [1]


def test_closed_it_writes_nothing_more():
    codec, sock = Codec(), Sock()
    writer = BatchedWriter(codec, sock, None)
    codec.framed += b"x"
    writer.flush_soon()
    writer.close()
    gevent.sleep(0)
    codec.framed += b"y"
    writer.flush_soon()
    gevent.sleep(0)
    assert sock.writes == []
