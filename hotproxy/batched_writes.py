"""The writes of a connection whose many greenlets frame onto one socket through a sans-IO codec
(``BatchedWriter``): the downstream HTTP/2 connection (http/http2/downstream.py) and the
multiplexed upstream one (upstream/multiplexed_connection.py)."""
from gevent import get_hub
from gevent.lock import Semaphore
from greenlet import greenlet as RawGreenlet

from .sockio import send_all

#: framed bytes past which flush_soon writes at once
FLUSH_NOW_BYTES = 65536


class BatchedWriter:
    """Sends what ``codec`` framed (its ``data_to_send`` and ``pending_bytes``), in the order it
    framed it. ``flush`` writes now, one writer at a time. ``flush_soon`` writes once the
    greenlets ready now have run, from a writer greenlet of its own, so that what one turn of the
    loop framed (responses, request heads, window updates) leaves in one write; past
    FLUSH_NOW_BYTES framed it writes at once, so that a greenlet framing faster than the socket
    takes waits for it (a fast peer held to the other's pace). A write of the caller's raises its
    OSError; one of the writer greenlet's calls ``on_failure``. Once ``close``d, the writer
    greenlet writes nothing more."""

    __slots__ = ("codec", "sock", "closed", "_on_failure", "_writing", "_hub", "_greenlet",
                 "_scheduled")

    def __init__(self, codec, sock, on_failure):
        self.codec, self.sock, self._on_failure = codec, sock, on_failure
        self.closed = False
        self._writing = Semaphore()
        self._hub = get_hub()
        self._greenlet = None       # made on the first flush_soon that waits
        self._scheduled = False

    def flush(self):
        with self._writing:
            data = self.codec.data_to_send()
            if data:
                send_all(self.sock, data)

    def flush_soon(self):
        pending = self.codec.pending_bytes
        if pending >= FLUSH_NOW_BYTES:
            self.flush()
        elif pending and not self._scheduled:
            self._scheduled = True
            if self._greenlet is None:
                self._greenlet = RawGreenlet(self._write_loop, parent=self._hub)
            self._hub.loop.run_callback(self._greenlet.switch)

    def close(self):
        """The connection is over: a writer waiting in the loop ends with its last reference."""
        self.closed = True
        self._scheduled = True      # so flush_soon schedules nothing more
        self._greenlet = self._on_failure = None    # no cycle through the connection left

    def _write_loop(self):
        """Switched to from the loop once per ``flush_soon`` batch."""
        while True:
            try:
                while not self.closed and self.codec.pending_bytes:
                    self.flush()
            except OSError:
                if not self.closed:     # else closed while this write waited
                    self._on_failure()
            self._scheduled = self.closed
            self._hub.switch()
