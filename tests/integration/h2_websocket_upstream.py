"""An HTTP/2 upstream that takes WebSockets over extended CONNECT (RFC 8441) and plain CONNECT
tunnels, for integration tests: the ``h2`` library on a plain socket, one thread per connection.

- ``:method CONNECT`` with ``:protocol websocket``: answered ``status`` (200 unless told), then
  the stream's bytes are WebSocket frames (the ``websockets`` package's sans-IO protocol, server
  side, already open) and every message is echoed. A text message ``"bye"`` makes the server
  close (close frame, then END_STREAM); ``"reset"`` makes it reset the stream (CANCEL); ``"flood"``
  is answered with a FLOOD-byte binary message.
- ``:method CONNECT`` without ``:protocol``: answered 200, then every DATA is echoed prefixed
  with ``echo:``.
- ``status=None``: no answer at all.
- Anything else: 404 (``/protocol-error``: a PROTOCOL_ERROR reset).
- With ``enable_connect=False`` (SETTINGS_ENABLE_CONNECT_PROTOCOL not sent) an extended CONNECT is
  reset with PROTOCOL_ERROR, as RFC 8441 §3 has a server do (nghttp2 does), unless
  ``lenient`` is set: then it is served all the same.

Sending respects the peer's windows (large messages wait for WINDOW_UPDATEs). ``seen`` holds the
request headers of each stream (decoded pairs), ``ends`` the streams the peer ended, ``resets``
those it reset (``reset_codes`` their error codes). ``accept_from_key`` answers a forwarded Sec-WebSocket-Key with the
Sec-WebSocket-Accept an HTTP/1.1 client checks (RFC 8441 has the server send none).
"""
from __future__ import annotations

import base64
import hashlib
import socket
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State


def accept_key(key):
    """RFC 6455's Sec-WebSocket-Accept for ``key``."""
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


#: the size of the message a text message ``"flood"`` is answered with
FLOOD = 32 << 20


class H2WebSocketUpstream:
    def __init__(self, enable_connect=True, status=200, response_headers=(), lenient=False,
                 accept_from_key=False):
        self.enable_connect = enable_connect
        self.lenient = lenient
        self.accept_from_key = accept_from_key
        self.status = status
        self.response_headers = list(response_headers)
        self.seen = []
        self.ends = []
        self.resets = []
        self.reset_codes = []
        self.waiting = 0        # bytes of the last stream drained that its window holds back
        self.errors = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.listener.close()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        try:
            _Connection(self, sock).run()
        except Exception as error:     # seen by the tests that look at ``errors``
            self.errors.append(error)
        finally:
            sock.close()


class _Connection:
    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        conn = self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        initial = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100}
        if server.enable_connect:
            initial[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
        conn.local_settings = h2.settings.Settings(client=False, initial_values=initial)
        self.websockets = {}    # stream id -> websockets Protocol (server side)
        self.raw = set()        # plain CONNECT streams
        self.outbound = {}      # stream id -> [bytes waiting for the window, end after them]

    def run(self):
        conn, sock = self.conn, self.sock
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                self._on(event)
            self._drain()
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

    def _on(self, event):
        conn = self.conn
        if isinstance(event, h2.events.RequestReceived):
            self._request(event.stream_id, event.headers)
        elif isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self._data(event.stream_id, event.data)
        elif isinstance(event, h2.events.StreamEnded):
            self.server.ends.append(event.stream_id)
            if event.stream_id in self.raw or event.stream_id in self.websockets:
                self._end(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self.server.resets.append(event.stream_id)
            self.server.reset_codes.append(event.error_code)
            self.websockets.pop(event.stream_id, None)
            self.outbound.pop(event.stream_id, None)

    def _request(self, stream_id, headers):
        self.server.seen.append(headers)
        head = dict(headers)
        server = self.server
        if head.get(":method") != "CONNECT":
            if head.get(":path") == "/protocol-error":
                self.conn.reset_stream(stream_id, 1)
            else:
                self.conn.send_headers(stream_id, [(":status", "404")], end_stream=True)
            return
        if ":protocol" not in head:
            self.conn.send_headers(stream_id, [(":status", "200")])
            self.raw.add(stream_id)
            return
        if not server.enable_connect and not server.lenient:
            self.conn.reset_stream(stream_id, 1)
            return
        if server.status is None:       # silence: no answer at all
            return
        if server.status != 200:
            body = b"refused"
            self.conn.send_headers(stream_id, [(":status", str(server.status)),
                                               ("content-length", str(len(body)))])
            self.conn.send_data(stream_id, body, end_stream=True)
            return
        extra = list(server.response_headers)
        if server.accept_from_key and "sec-websocket-key" in head:
            extra.append(("sec-websocket-accept", accept_key(head["sec-websocket-key"])))
        self.conn.send_headers(stream_id, [(":status", "200"), *extra])
        self.websockets[stream_id] = Protocol(Side.SERVER, max_size=None)

    def _data(self, stream_id, data):
        if stream_id in self.raw:
            if data:
                self._queue(stream_id, b"echo:" + data)
            return
        ws = self.websockets.get(stream_id)
        if ws is None:
            return
        ws.receive_data(data)
        for frame in ws.events_received():
            if frame.opcode is Opcode.TEXT and frame.data == b"bye":
                ws.send_close(1000, "bye")
            elif frame.opcode is Opcode.TEXT and frame.data == b"flood":
                ws.send_frame(Frame(Opcode.BINARY, b"f" * FLOOD))
            elif frame.opcode is Opcode.TEXT and frame.data == b"reset":
                self.conn.reset_stream(stream_id, 8)
                self.websockets.pop(stream_id)
                self.outbound.pop(stream_id, None)
                return
            elif frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                ws.send_frame(Frame(frame.opcode, frame.data))
        out = b"".join(ws.data_to_send())
        if out:
            self._queue(stream_id, out)
        if ws.state is not State.OPEN:     # a close frame went (ours or our answer): the end
            self._end(stream_id)

    def _queue(self, stream_id, data):
        entry = self.outbound.setdefault(stream_id, [b"", False])
        entry[0] += data

    def _end(self, stream_id):
        entry = self.outbound.setdefault(stream_id, [b"", False])
        entry[1] = True

    def _drain(self):
        conn = self.conn
        for stream_id, entry in list(self.outbound.items()):
            data, end = entry
            while data:
                size = min(len(data), conn.local_flow_control_window(stream_id),
                           conn.max_outbound_frame_size)
                if size <= 0:
                    break
                conn.send_data(stream_id, data[:size])
                data = data[size:]
            entry[0] = data
            self.server.waiting = len(data)
            if not data and end:
                try:
                    conn.end_stream(stream_id)
                except h2.exceptions.StreamClosedError:
                    pass
                del self.outbound[stream_id]
                self.websockets.pop(stream_id, None)
                self.raw.discard(stream_id)

