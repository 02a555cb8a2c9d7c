"""How a downstream HTTP/1.1 connection (downstream.py) is interrupted from outside its greenlet
and how it ends: moved to the next generation on a reload, left to linger when it cannot move
(TLS), reset for overload, expired by its deadline, and closed with a delayed close."""
from __future__ import annotations

from socket import SHUT_WR
from socket import timeout as SocketTimeout
from time import monotonic

from ..deadlines import NEVER
from .control import OverloadReset, Release

#: How long a closing connection waits for the client's FIN after the last response byte, so
#: that unread client bytes do not turn the close into a reset that destroys the response
#: (Envoy's delayed_close_timeout).
_DELAYED_CLOSE_S = 1.0

#: A reload moves a generation's connections one at a time, this far apart, and within
#: MOVE_WINDOW_S in all. Each move costs the new worker the connection's set-up and a new
#: upstream connection for its next request. When a drain moved fifty busy keep-alive
#: connections at once, all of their requests waited 30-60 ms for the new worker to get
#: through them (docs/benchmarks.md, "the reload point on a quiet machine").
MOVE_GAP_S = 0.002
MOVE_WINDOW_S = 0.5


def move_times(now, count):
    """When each of ``count`` connections moves, from ``now``: MOVE_GAP_S apart, closer when
    that would take longer than MOVE_WINDOW_S."""
    gap = min(MOVE_GAP_S, MOVE_WINDOW_S / count) if count else 0.0
    return [now + index * gap for index in range(count)]


class ConnectionEnding:
    """Mixed into DownstreamConnection: its ``hcm``, ``sock``, ``stream``, ``greenlet``,
    ``deadline``, ``idle``, ``close_at`` and ``lingering``."""

    #: when a drain moves this connection (move_times): from then on it moves at its next
    #: message boundary. 0.0 for a connection that came after the drain began.
    move_at = 0.0

    def linger(self):
        """Stay on this generation (Python cannot hand TLS state over), saying ``Connection:
        close`` in the next response."""
        self.close_at = monotonic()
        self.lingering = True

    def release_if_idle(self):
        """Interrupt the wait of a connection idle at a message boundary so that it moves (or
        closes). gevent's cancel_wait throws only if the wait is still on: race-free."""
        if self.idle:
            self.sock.hub.cancel_wait(self.sock._read_event, Release(), False)

    def reset_for_overload(self):
        """reset_high_memory_stream chose this stream, which waits for a peer to take its buffered
        bytes: end it there (Envoy resets it, which on HTTP/1.1 closes the connection). Like
        ``release_if_idle``, nothing is thrown unless the wait is still on."""
        stream = self.stream
        for sock in (self.sock, stream.upstream.sock if stream.upstream is not None else None):
            if sock is not None:
                sock.hub.cancel_wait(sock._write_event, OverloadReset(), False)

    def expire(self):
        """Called by the worker's Deadlines: interrupt whatever this connection waits for."""
        self.deadline = NEVER
        self.greenlet.kill(SocketTimeout("timed out"), block=False)

    def _release(self):
        """Leave this idle connection to the next generation, or close it if none can take it."""
        self.idle = False
        if self.hcm.hand_off is not None:
            try:
                self.hcm.hand_off(self.sock)
                return
            except OSError:
                pass
        self.close()

    def close(self):
        """Half-close, then wait briefly for the client's FIN before the socket is closed."""
        sock = self.sock
        self.deadline = NEVER
        try:
            sock.shutdown(SHUT_WR)
            sock.timeout = _DELAYED_CLOSE_S
            while sock.recv(self.hcm.recv_size):
                pass
        except OSError:
            pass
