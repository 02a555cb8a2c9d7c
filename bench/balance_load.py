"""The two helper processes of bench/balance.py, on gevent:

``backend PORT``: an HTTP/1.1 keep-alive upstream. ``/long`` answers 64 KiB, anything else 12 B.
It counts ``/long`` and ``/short`` requests by the proxy-side port they came from; when its stdin closes it
prints ``{"long": {port: n}, "short": {port: n}}`` and exits. bench/balance.py maps the ports to
the worker processes that own them, which gives requests per worker.

``load PORT LONG SHORT SECONDS``: the skewed load. First LONG keep-alive connections, opened at
once, each served once; then it prints ``open <their local ports>`` and waits for a line on
stdin (the bench samples where they landed); then every long connection asks for ``/long`` back
to back (the busy ones) while SHORT greenlets open a fresh connection per ``/short`` request
(``Connection: close``), for SECONDS. Last it prints ``{"long": n, "short": n, "errors": n}``.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

import gevent  # noqa: E402
from gevent import socket  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

LONG_BODY = b"x" * 65536
SHORT_BODY = b"hello world\n"


def response(body):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


LONG_RESPONSE, SHORT_RESPONSE = response(LONG_BODY), response(SHORT_BODY)


def run_backend(port):
    counts = {"long": Counter(), "short": Counter()}

    def serve(sock, address):
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1]
            kind = "long" if path == b"/long" else "short" if path == b"/short" else None
            if kind is not None:
                counts[kind][address[1]] += 1
            sock.sendall(LONG_RESPONSE if kind == "long" else SHORT_RESPONSE)

    server = StreamServer(("127.0.0.1", port), serve, backlog=1024)
    server.start()
    print("listening", flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()   # until the bench closes stdin
    print(json.dumps({kind: dict(counter) for kind, counter in counts.items()}), flush=True)


def read_response(sock, buffer=b""):
    """One response (Content-Length framed) from ``sock``; returns what followed it."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise EOFError("closed before a response")
        buffer += data
    head, rest = buffer.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise EOFError("closed inside a body")
        rest += data
    return rest[length:]


def run_load(port, long_count, short_count, seconds):
    totals = Counter()
    address = ("127.0.0.1", port)

    def open_long():
        sock = socket.create_connection(address)
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: bench\r\n\r\n")
        read_response(sock)
        return sock

    longs = [job.get() for job in [gevent.spawn(open_long) for _ in range(long_count)]]
    print("open " + " ".join(str(sock.getsockname()[1]) for sock in longs), flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + seconds

    def busy(sock):
        try:
            while time.monotonic() < deadline:
                sock.sendall(b"GET /long HTTP/1.1\r\nHost: bench\r\n\r\n")
                read_response(sock)
                totals["long"] += 1
        except OSError:
            totals["errors"] += 1

    def short():
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(address) as sock:
                    sock.sendall(b"GET /short HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    read_response(sock)
                    totals["short"] += 1
            except OSError:
                totals["errors"] += 1
                gevent.sleep(0.01)

    gevent.joinall([gevent.spawn(busy, sock) for sock in longs] +
                   [gevent.spawn(short) for _ in range(short_count)])
    for sock in longs:
        sock.close()
    print(json.dumps({"long": totals["long"], "short": totals["short"], "errors": totals["errors"]}),
          flush=True)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "backend":
        run_backend(int(args[0]))
    else:
        run_load(int(args[0]), int(args[1]), int(args[2]), float(args[3]))
