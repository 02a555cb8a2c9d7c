"""One request's stream on a multiplexed HTTP/2 connection (http2_pool.py), as the router holds
it: the response events its connection's reader hands over, the send window it waits for."""
from __future__ import annotations

from collections import deque

from gevent.event import Event


class StreamEnded(Exception):
    """The stream ended without its response: ``reason`` is Envoy's reset reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Request:
    """One request's stream on a connection, as the router holds it in ``stream.upstream``
    (``pool``, ``sock``, ``reused``, ``keep_alive`` as pool.UpstreamConnection has them)."""

    __slots__ = ("connection", "pool", "sock", "stream_id", "inbox", "arrived", "window", "reused",
                 "tls", "keep_alive", "decoder", "holds_request", "ended", "complete")

    def __init__(self, connection):
        self.connection = connection
        self.pool = connection.pool
        self.sock = connection.sock
        self.stream_id = None
        self.inbox = deque()
        self.arrived = Event()
        self.window = Event()
        self.reused = connection.opened > 0
        self.tls = False
        self.keep_alive = True
        self.decoder = None
        self.holds_request = False
        self.ended = None           # the reset reason once the stream ended without a response
        self.complete = False       # the stream is over on the wire (both ends, or a reset)

    def open(self, headers, end_stream):
        """Send the request head (HEADERS); raises StreamEnded."""
        self.connection.open(self, headers, end_stream)

    def send_data(self, data, end_stream):
        """Send a body piece as the windows allow, waiting for them; raises StreamEnded."""
        conn = self.connection
        codec = conn.codec
        view = memoryview(data)
        while True:
            if self.ended is not None:
                raise StreamEnded(self.ended)
            self.window.clear()
            sent = codec.send_data(self.stream_id, view, end_stream)
            conn._flush_or_end(self)
            view = view[sent:]
            if not view:
                return
            self.window.wait()

    def deliver(self, event):
        self.inbox.append(event)
        self.arrived.set()

    def end(self, reason):
        if self.ended is None:
            self.ended = reason
        self.arrived.set()
        self.window.set()

    def next_event(self):
        """The next response event, waiting for it; raises StreamEnded once none will come."""
        inbox = self.inbox
        while not inbox:
            if self.ended is not None:
                raise StreamEnded(self.ended)
            self.arrived.clear()
            self.arrived.wait()
        return inbox.popleft()

    def consumed(self, flow_length):
        """A data event went downstream: the windows may reopen."""
        conn = self.connection
        if not conn.closed and flow_length:
            conn.codec.acknowledge(self.stream_id, flow_length)
            conn.flush_soon(self)
