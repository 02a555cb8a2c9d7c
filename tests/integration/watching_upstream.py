"""Upstreams that answer late, or never, and record when the proxy gives up on a request: an
HTTP/2 server (the h2 library, in threads) noting each stream's RST_STREAM and its error code,
and an HTTP/1.1 server noting each connection's close. For the tests of what reaches an upstream
when a client leaves early, and of the upstream max_stream_duration.

Paths (both servers): ``/hang`` never answers; ``/head`` answers a head (200, a content-length of
10) and never the body; ``/late/<ms>`` answers 200 ``late`` after ``<ms>`` milliseconds;
``/fast`` answers 200 ``fast`` at once. ``requests`` lists them in the order they came (a retried
attempt is a second entry)."""
from __future__ import annotations

import socket
import threading
import time

import h2.config
import h2.connection
import h2.events


class _Server:
    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests = []      # (connection number, path), in the order they arrived
        self.lock = threading.Lock()
        self._stop = False
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self._stop = True
        self.listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self):
        number = 0
        while not self._stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            number += 1
            self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def wait(self, condition, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def _delay(path):
    """The answer a path asks for: (kind, seconds)."""
    if path.startswith("/late/"):
        return "late", int(path.split("/")[2]) / 1000
    return path.lstrip("/").split("/")[0], 0


class H2WatchingUpstream(_Server):
    """``resets``: (stream id, error code, monotonic time) of each RST_STREAM received;
    ``opened``: stream id -> (path, monotonic time) of each request head."""

    def __init__(self):
        self.resets = []
        self.opened = {}
        super().__init__()

    def reset_codes(self):
        return [code for _, code, _ in self.resets]

    def _serve(self, sock, number):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        lock = threading.Lock()
        sock.sendall(conn.data_to_send())
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                with lock:
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.RequestReceived):
                            path = dict(event.headers)[b":path"].decode()
                            self.opened[event.stream_id] = (path, time.monotonic())
                            with self.lock:
                                self.requests.append((number, path))
                            threading.Thread(target=self._answer, daemon=True, args=(
                                sock, conn, lock, event.stream_id, path)).start()
                        elif isinstance(event, h2.events.DataReceived):
                            conn.acknowledge_received_data(event.flow_controlled_length,
                                                           event.stream_id)
                        elif isinstance(event, h2.events.StreamReset):
                            self.resets.append((event.stream_id, event.error_code,
                                                time.monotonic()))
                    sock.sendall(conn.data_to_send())
        except Exception:
            pass
        finally:
            sock.close()

    def _answer(self, sock, conn, lock, stream_id, path):
        kind, delay = _delay(path)
        if kind == "hang":
            return
        time.sleep(delay)
        with lock:
            try:
                if kind == "head":
                    conn.send_headers(stream_id, [(":status", "200"), ("content-length", "10")])
                else:
                    body = kind.encode()
                    conn.send_headers(stream_id, [(":status", "200"),
                                                  ("content-length", str(len(body)))])
                    conn.send_data(stream_id, body, end_stream=True)
                sock.sendall(conn.data_to_send())
            except Exception:
                pass        # reset meanwhile, or the connection went away


class H1WatchingUpstream(_Server):
    """``closes``: (connection number, path of its last request, monotonic time) of each
    connection the proxy closed (its EOF)."""

    def __init__(self):
        self.closes = []
        super().__init__()

    def _serve(self, sock, number):
        path = None
        buffered = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = sock.recv(65536)
                    if not data:
                        self.closes.append((number, path, time.monotonic()))
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                with self.lock:
                    self.requests.append((number, path))
                kind, delay = _delay(path)
                if kind == "hang":
                    continue
                time.sleep(delay)
                if kind == "head":
                    sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
                    continue
                body = kind.encode()
                sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            self.closes.append((number, path, time.monotonic()))
        finally:
            sock.close()
