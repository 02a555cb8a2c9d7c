"""Instructions per proxied request, counted by callgrind in a hotproxy worker: a figure that,
unlike CPU time on a shared VM, repeats to within a fraction of a percent, so a change of a
microsecond on the request path can be seen.

The worker runs under ``valgrind --tool=callgrind`` (a wrapper interpreter starts it so; the
arbiter and flusher run natively). A client sends ``N`` GETs over 10 keep-alive connections
(``--connections``) to an upstream on loopback; the difference between a run of ``--requests`` and one of
``--requests / 6`` requests, divided by the difference in requests, removes start-up and
shut-down. ``--baseline DIR`` measures another checkout the same way (PYTHONPATH), for
before/after figures; ``--access-log`` adds compare.py --access-log's file access log in the
default format:

    python bench/callgrind_path.py --baseline /tmp/base
    python bench/callgrind_path.py --connections 1 --access-log --baseline /tmp/base

On a loaded machine the figure over 10 connections moves by a few thousand instructions between
runs of the same checkout (how many ready connections one loop iteration finds depends on how
fast the client runs beside the slowed worker); over one connection (``--connections 1``) every
request is one wait and one wake-up whatever the load, and only the worker's once-a-second work,
divided among the requests, still moves it (about 0.5%).
"""
from __future__ import annotations

import argparse
import socket
import tempfile
import threading
from pathlib import Path

from access_log_config import with_file_access_log
from callgrind_worker import per_request, worker_instructions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CONFIG = """
static_resources:
  listeners:
  - name: bench
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {listen} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]{policy}
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: upstream }}
          http_filters:{filters}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: {{ socket_address: {{ address: 127.0.0.1, port_value: {upstream} }} }}
"""

def response(body_size):
    """What nginx answers, byte for byte (so that the response side is realistic): 12 bytes of
    ``hello world`` or ``body_size`` bytes."""
    body = b"hello world\n" if body_size == 12 else b"x" * body_size
    return (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 13:31:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(body) + body)



REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"

# --filters: compare.py --filters' three (bench/configs/http-filters.yaml), the policy on the
# filter itself here; the client sends an Origin the policy allows
FILTERS = """
          - name: envoy.filters.http.cors
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
          - name: envoy.filters.http.local_ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
              stat_prefix: bench_rl
              token_bucket: { max_tokens: 100000000, tokens_per_fill: 100000000, fill_interval: 1s }
              filter_enabled: { default_value: { numerator: 100, denominator: HUNDRED } }
              filter_enforced: { default_value: { numerator: 100, denominator: HUNDRED } }
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  get-only:
                    permissions: [{ header: { name: ":method", string_match: { exact: GET } } }]
                    principals: [{ any: true }]"""
CORS_POLICY = """
              typed_per_filter_config:
                envoy.filters.http.cors:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy
                  allow_origin_string_match: [{ exact: "http://bench.example.com" }]
                  allow_methods: "GET, POST"
                  max_age: "600" """
ORIGIN = b"Origin: http://bench.example.com\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstream(port, answer):
    """Answers every request head with ``answer``, on every connection."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)

    def serve(conn):
        buffer = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    conn.sendall(answer)

    def accept():
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def client(port, requests, body_size, request=REQUEST, connections=10, wrap=lambda sock: sock):
    """``requests`` keep-alive GETs over ``connections`` connections, each made by ``wrap`` of a
    TCP connection (callgrind_tls.py wraps it in TLS)."""
    per = requests // connections
    ending = b"hello world\n" if body_size == 12 else b"x" * 64

    def run():
        with wrap(socket.create_connection(("127.0.0.1", port))) as sock:
            for _ in range(per):
                sock.sendall(request)
                got = b""
                while not (got.endswith(ending) and len(got) > body_size):
                    got += sock.recv(262144)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def config_text(listen, up, filters, access_log=None):
    """The bench config; ``access_log``: a path for a default-format file access log
    (compare.py --access-log's)."""
    text = CONFIG.format(listen=listen, upstream=up, filters=FILTERS if filters else "",
                         policy=CORS_POLICY if filters else "")
    return with_file_access_log(text, access_log) if access_log else text


def count(checkout, requests, scratch, body_size, filters, connections=10, access_log=False):
    """Instructions the worker executed for ``requests`` requests (plus start and stop)."""
    listen, up = free_port(), free_port()
    upstream(up, response(body_size))
    config = config_text(listen, up, filters, scratch / f"access-{requests}.log" if access_log else None)
    request = REQUEST[:-2] + ORIGIN + b"\r\n" if filters else REQUEST

    def drive():
        client(listen, 200, body_size, request, connections)  # warm: imports, first connections
        client(listen, requests, body_size, request, connections)

    return worker_instructions(checkout, scratch, config, listen, drive, f"http1-{requests}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to measure the same way")
    parser.add_argument("--body-size", type=int, default=12, help="response body bytes (default 12)")
    parser.add_argument("--connections", type=int, default=10,
                        help="keep-alive connections the requests are spread over (default 10)")
    parser.add_argument("--filters", action="store_true",
                        help="cors, local_ratelimit and rbac in front of the router (compare.py --filters)")
    parser.add_argument("--access-log", action="store_true",
                        help="a file access log in the default format (compare.py --access-log)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotproxy-callgrind-") as scratch:
        scratch = Path(scratch)
        rows = [("hotproxy", ROOT)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
        results = {name: per_request(lambda n, path=path: count(path, n, scratch, args.body_size, args.filters,
                                                                   args.connections, args.access_log),
                                     args.requests) for name, path in rows}
    for name, value in results.items():
        print(f"{name:10} {value:10.0f} instructions per request")
    if args.baseline:
        change = results["hotproxy"] / results["baseline"] - 1
        print(f"change     {change:+10.1%}")


if __name__ == "__main__":
    main()
