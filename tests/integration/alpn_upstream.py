"""An upstream that speaks what ALPN chose: HTTP/2 (the h2 library) or HTTP/1.1, over TLS with
the protocols it is told to offer (or plain text, HTTP/1.1). It counts the connections it
accepted and those the proxy closed, and the most streams one HTTP/2 connection carried at once.
Every answer is JSON: the protocol, the connection's number, the path. ``/slow`` answers after
0.3 s. An HTTP/1.1 request with ``Upgrade`` gets a 101 and an echo of the bytes that follow."""
from __future__ import annotations

import json
import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events


class AlpnUpstream:
    def __init__(self, certificate=None, tmp_path=None, alpn=("h2", "http/1.1")):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = None
        if certificate is not None:
            cert_path, key_path = certificate.write(tmp_path, f"alpn-upstream-{self.port}")
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert_path, key_path)
            self.context.set_alpn_protocols(list(alpn))
        self.accepted = 0
        self.closed = 0
        self.protocols = []         # per connection, in accepting order
        self.most_streams = 0       # on one HTTP/2 connection at once
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self._stop = True
        self.listener.close()

    def wait_closed(self, count, timeout=15.0):
        deadline = time.monotonic() + timeout
        while self.closed < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.closed

    def _accept(self):
        while not self._stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                number = self.accepted
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock, number):
        try:
            if self.context is not None:
                sock = self.context.wrap_socket(sock, server_side=True)
            protocol = sock.selected_alpn_protocol() if self.context is not None else None
            self.protocols.append(protocol or "http/1.1")
            if protocol == "h2":
                self._serve_h2(sock, number)
            else:
                self._serve_http1(sock, number)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self.closed += 1
            sock.close()

    def _answer(self, protocol, number, path):
        if path == "/slow":
            time.sleep(0.3)
        return json.dumps({"proto": protocol, "conn": number, "path": path}).encode()

    def _serve_http1(self, sock, number):
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                data = sock.recv(65536)
                if not data:
                    return
                buffered += data
            head, _, buffered = buffered.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            if headers.get("upgrade"):     # a tunnel: 101, then an echo of what comes
                sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: %s\r\n"
                             b"x-conn: %d\r\n\r\n" % (headers["upgrade"].encode(), number) + buffered)
                while True:
                    data = sock.recv(65536)
                    if not data:
                        return
                    sock.sendall(data)
            length = int(headers.get("content-length", "0"))
            if headers.get("transfer-encoding") == "chunked":
                while not buffered.endswith(b"0\r\n\r\n"):
                    buffered += sock.recv(65536)
                buffered = b""
            else:
                while len(buffered) < length:
                    buffered += sock.recv(65536)
                buffered = buffered[length:]
            body = self._answer("http/1.1", number, path)
            sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(body), body))

    def _serve_h2(self, sock, number):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        lock = threading.Lock()
        sock.sendall(conn.data_to_send())
        open_streams = set()

        def respond(stream_id, path):
            body = self._answer("h2", number, path)
            with lock:
                conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json"),
                                              ("content-length", str(len(body)))])
                conn.send_data(stream_id, body, end_stream=True)
                open_streams.discard(stream_id)
                sock.sendall(conn.data_to_send())

        paths = {}
        while True:
            data = sock.recv(65536)
            if not data:
                return
            with lock:
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        paths[event.stream_id] = dict(event.headers)[b":path"].decode()
                        open_streams.add(event.stream_id)
                        self.most_streams = max(self.most_streams, len(open_streams))
                    elif isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if isinstance(event, h2.events.StreamEnded):
                        threading.Thread(target=respond, args=(event.stream_id, paths[event.stream_id]),
                                         daemon=True).start()
                sock.sendall(conn.data_to_send())
