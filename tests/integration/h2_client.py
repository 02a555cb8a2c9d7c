"""A small blocking HTTP/2 client for integration tests (h2c with prior knowledge, on jh2): one
connection, requests sent on it one by one or several at once, each read to its end."""
from __future__ import annotations

import socket

from jh2 import config, connection, events


class _Connection(connection.H2Connection):
    """jh2 closes its state machine on any GOAWAY, which would fail the streams still in flight
    under a graceful one (RFC 9113 §6.8 lets them finish): here a GOAWAY is only reported."""

    def _receive_goaway_frame(self, frame):
        event = events.ConnectionTerminated()
        event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data
        return [], [event]


class H2Response:
    def __init__(self):
        self.status = None
        self.headers = []
        self.body = b""
        self.trailers = []
        self.ended = False
        self.reset = None       # the RST_STREAM error code, when the stream was reset

    def header(self, name, default=None):
        for key, value in self.headers:
            if key == name:
                return value
        return default


class H2Client:
    def __init__(self, port, timeout=10.0, window=None, auto_acknowledge=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = _Connection(config.H2Configuration(
            client_side=True, header_encoding=None))
        if window is not None:
            self.conn.local_settings.initial_window_size = window
        self.conn.initiate_connection()
        self.auto_acknowledge = auto_acknowledge
        self.responses = {}
        self.goaway = None      # (last stream id, error code) once the server said GOAWAY
        self.closed = False
        self._flush()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(self, method="GET", path="/", headers=(), body=None, authority="test"):
        """Send a request; returns its stream id."""
        stream_id = self.conn.get_next_available_stream_id()
        head = [(b":method", method.encode()), (b":scheme", b"http"),
                (b":authority", authority.encode()), (b":path", path.encode())]
        head += [(k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v)
                 for k, v in headers]
        self.conn.send_headers(stream_id, head, end_stream=body is None)
        if body is not None:
            size = self.conn.max_outbound_frame_size
            pieces = [body[at:at + size] for at in range(0, len(body), size)] or [b""]
            for index, piece in enumerate(pieces):
                self.conn.send_data(stream_id, piece, end_stream=index == len(pieces) - 1)
        self.responses[stream_id] = H2Response()
        self._flush()
        return stream_id

    def read_until(self, done):
        """Read frames until ``done()`` or the connection ends."""
        while not done():
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return
            for event in self.conn.receive_data(data):
                self._on(event)
            self._flush()

    def _on(self, event):
        response = self.responses.get(getattr(event, "stream_id", None))
        if isinstance(event, events.ResponseReceived):
            response.headers = [(k, v) for k, v in event.headers if k != b":status"]
            response.status = int(dict(event.headers)[b":status"])
        elif isinstance(event, events.DataReceived):
            response.body += event.data
            if self.auto_acknowledge:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, events.TrailersReceived):
            response.trailers = list(event.headers)
        elif isinstance(event, events.StreamReset):
            if response is not None:
                response.reset = event.error_code
                response.ended = True
        elif isinstance(event, events.ConnectionTerminated):
            self.goaway = (event.last_stream_id, event.error_code)
        if isinstance(event, events.StreamEnded) and response is not None:
            response.ended = True

    def response(self, stream_id):
        response = self.responses[stream_id]
        self.read_until(lambda: response.ended)
        return response

    def request(self, *args, **kwargs):
        return self.response(self.start(*args, **kwargs))

    def close(self):
        try:
            self.conn.close_connection()
            self._flush()
        except Exception:
            pass
        self.sock.close()


def h2_post_until(port, stop, failures, done, goaways):
    """A client that never retries a request the server took: POSTs on one h2 connection until
    the server says GOAWAY (or closes), then on a new one, until ``stop`` is set. Non-200s and
    errors go into ``failures``; ``done[0]`` counts requests, ``goaways[0]`` the GOAWAYs seen.
    A stream the GOAWAY refused before the server took it is sent again (RFC 9113 §6.8)."""
    client = H2Client(port)
    while not stop.is_set():
        if client.goaway is not None or client.closed:
            goaways[0] += client.goaway is not None
            client.close()
            client = H2Client(port)
        try:
            response = client.request("POST", "/echo", body=b"payload")
        except OSError as error:
            failures.append(repr(error))
            client = H2Client(port)
            continue
        if response.status is None and client.goaway is not None:
            continue
        if response.status != 200:
            failures.append(f"status {response.status} reset {response.reset}")
        done[0] += 1
    client.close()
