"""A raw HTTP/1.1 upstream that records every byte and every request it parses, for tests that
must see exactly what a proxy sent (smuggling) and control exactly what it answers (injection,
floods).

``RecordingUpstream(respond)`` parses requests strictly by their own framing (Content-Length,
chunked, or none), records each as ``Request(connection, raw, head, body)`` and answers it with
``respond(request)``: bytes to send, a callable ``(conn) -> None`` that writes by itself, or None
to close. The default answer is ``200`` with the body ``for <target>``, so a client can tell
whose response it got.
"""
from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass

from harness import accept_each


@dataclass
class Request:
    connection: int      # which upstream connection (1, 2, … in accept order)
    raw: bytes           # the request exactly as received
    head: bytes
    body: bytes

    @property
    def request_line(self):
        return self.head.split(b"\r\n", 1)[0]

    @property
    def target(self):
        return self.request_line.split(b" ")[1]

    def header(self, name):
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None

    def header_names(self):
        return [line.partition(b":")[0].strip().lower() for line in self.head.split(b"\r\n")[1:]]


def ok_for(request):
    body = b"for " + request.target
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


class RecordingUpstream:
    def __init__(self, respond=ok_for):
        self.respond = respond
        self.requests = []
        self.connections = 0
        self._lock = threading.Lock()
        self._open = set()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._serve)

    def reset(self, respond=ok_for):
        """Forget what was received, answer with ``respond`` from now on, and close every
        connection (a proxy's pooled ones included), so that the next test starts clean."""
        self.respond = respond
        with self._lock:
            open_now, self._open = self._open, set()
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.requests.clear()

    def _serve(self, conn):
        with self._lock:
            self.connections += 1
            number = self.connections
            self._open.add(conn)
        buffer = b""
        with conn:
            try:
                while True:
                    request, buffer = _parse(buffer)
                    if request is None:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                        continue
                    head, body, raw = request
                    recorded = Request(number, raw, head, body)
                    self.requests.append(recorded)
                    answer = self.respond(recorded)
                    if answer is None:
                        return
                    if callable(answer):
                        answer(conn)
                    else:
                        conn.sendall(answer)
            except OSError:
                return

    def close(self):
        self.sock.close()


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.I)


def _parse(buffer):
    """One complete request from the front of ``buffer``: ((head, body, raw), rest), or
    (None, buffer) while it is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None, buffer
    head = buffer[:end]
    at = end + 4
    if _CHUNKED.search(head):
        body = b""
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None, buffer
            size = int(buffer[at:line_end].split(b";")[0], 16)
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0 and buffer[line_end:line_end + 4] != b"\r\n\r\n":
                    return None, buffer
                at = (line_end + 4) if buffer[line_end:line_end + 4] == b"\r\n\r\n" else trailer_end + 4
                break
            if len(buffer) < line_end + 2 + size + 2:
                return None, buffer
            body += buffer[line_end + 2:line_end + 2 + size]
            at = line_end + 2 + size + 2
    else:
        match = _CONTENT_LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        if len(buffer) < at + length:
            return None, buffer
        body = buffer[at:at + length]
        at += length
    return (head, body, buffer[:at]), buffer[at:]
