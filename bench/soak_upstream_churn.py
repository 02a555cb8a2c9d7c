"""Upstream churn soak: steady traffic through hotproxy and Envoy side by side, on the same config,
while one of three upstream processes is killed (SIGKILL) and restarted every few seconds. Counts
the requests each proxy's clients saw fail.

The config is what an operator would write for this: an HTTP health check every second on each
host and a retry policy for connect failures
and resets on another host (``previous_hosts``). ``--no-retries`` drops the retry policy, to show
what health checking alone leaves to the clients.

    python bench/soak_upstream_churn.py                    # 120 s, a kill every 4 s
    python bench/soak_upstream_churn.py --seconds 30 --no-retries

Both proxies run at once against the same three upstreams, so each kill hits both alike. Clients
never retry: ``http.client`` keep-alive connections, one request at a time, a new connection after
any error. Prints, per proxy: requests ok, failed by kind (status, connection error), and which
statuses.
"""
from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from compare import free_port, wait_for_port

VENV_BIN = Path(sys.executable).parent

CONFIG = """
admin: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }} }}
static_resources:
  listeners:
  - name: churn
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {listen} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: churn
          route_config:
            virtual_hosts:
            - name: churn
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route:
                  cluster: service
                  timeout: 5s
{retry_policy}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: service
    connect_timeout: 0.25s
    health_checks:
    - timeout: 0.5s
      interval: 1s
      unhealthy_threshold: 1
      healthy_threshold: 1
      no_traffic_interval: 1s
      http_health_check: {{ path: /health }}
    load_assignment:
      cluster_name: service
      endpoints:
      - lb_endpoints:
{endpoints}
"""
RETRY_POLICY = """                  retry_policy:
                    retry_on: connect-failure,reset
                    num_retries: 3
                    retry_host_predicate:
                    - name: envoy.retry_host_predicates.previous_hosts
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
                    host_selection_retry_max_attempts: 3"""
ENDPOINT = """        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }}"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(port):
    """The upstream process: a threaded HTTP/1.1 server answering every GET with 200."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.serve_forever()


class Upstreams:
    def __init__(self, ports):
        self.ports = ports
        self.processes = {port: self._start(port) for port in ports}

    @staticmethod
    def _start(port):
        return subprocess.Popen([sys.executable, __file__, "--serve", str(port)])

    def kill(self, port):
        self.processes[port].send_signal(signal.SIGKILL)
        self.processes[port].wait()

    def restart(self, port):
        self.processes[port] = self._start(port)

    def stop(self):
        for process in self.processes.values():
            process.kill()
            process.wait()


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = Counter()

    def add(self, outcome):
        with self.lock:
            if outcome == 200:
                self.ok += 1
            else:
                self.failed[outcome] += 1


def client(port, tally, stop, pause):
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            tally.add(response.status)
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as error:
            tally.add(type(error).__name__)
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(pause)


def start_proxies(directory, config, args):
    proxies = {}
    for name in ("hotproxy", "envoy"):
        listen, admin = free_port(), free_port()
        path = Path(directory) / f"{name}.yaml"
        path.write_text(config.format(listen=listen, admin=admin))
        if name == "hotproxy":
            command = [str(VENV_BIN / "hotproxy"), "-c", str(path), "--concurrency", "2",
                       "--base-id", str(os.getpid() % 50000 + 1000), "-l", "warning"]
        else:
            command = [str(VENV_BIN / "envoy"), "-c", str(path), "--concurrency", "2",
                       "--base-id", str(os.getpid() % 50000 + 2000), "-l", "warning"]
        log = open(Path(directory) / f"{name}.log", "w")
        proxies[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), listen)
    for _, listen in proxies.values():
        wait_for_port(listen, timeout=30)
    return proxies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--period", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--down", type=float, default=2.0, help="seconds a killed upstream stays down")
    parser.add_argument("--clients", type=int, default=8, help="clients per proxy")
    parser.add_argument("--pause", type=float, default=0.01, help="each client's pause between requests")
    parser.add_argument("--no-retries", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve)
    ports = [free_port() for _ in range(3)]
    upstreams = Upstreams(ports)
    for port in ports:
        wait_for_port(port)
    endpoints = "\n".join(ENDPOINT.format(port=port) for port in ports)
    config = CONFIG.replace("{retry_policy}", "" if args.no_retries else RETRY_POLICY.replace("{", "{{").replace("}", "}}"))
    config = config.replace("{endpoints}", endpoints.replace("{", "{{").replace("}", "}}"))
    with tempfile.TemporaryDirectory(prefix="churn-") as directory:
        proxies = start_proxies(directory, config, args)
        time.sleep(3)   # both have run their first health checks
        stop = threading.Event()
        tallies = {name: Tally() for name in proxies}
        threads = [threading.Thread(target=client, args=(listen, tallies[name], stop, args.pause), daemon=True)
                   for name, (_, listen) in proxies.items() for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        started, kills, victim = time.monotonic(), 0, 0
        try:
            while time.monotonic() - started < args.seconds:
                time.sleep(max(0.0, args.period - args.down))
                port = ports[victim % len(ports)]
                upstreams.kill(port)
                kills += 1
                time.sleep(args.down)
                upstreams.restart(port)
                victim += 1
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            for process, _ in proxies.values():
                process.send_signal(signal.SIGTERM)
            for process, _ in proxies.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            upstreams.stop()
    retries = "without retries" if args.no_retries else "with retries (connect-failure, reset; previous_hosts)"
    print(f"{args.seconds:.0f} s, {kills} kills (one of 3 upstreams down {args.down:.0f} s in every "
          f"{args.period:.0f} s), {args.clients} clients per proxy, health checks every 1 s, {retries}\n")
    print("| proxy | requests ok | failed | failed share | failures |")
    print("|---|---|---|---|---|")
    for name, tally in tallies.items():
        failed = sum(tally.failed.values())
        share = failed / max(1, failed + tally.ok)
        kinds = ", ".join(f"{kind}: {count}" for kind, count in tally.failed.most_common()) or "none"
        print(f"| {name} | {tally.ok:,} | {failed:,} | {share:.3%} | {kinds} |")


if __name__ == "__main__":
    sys.exit(main())
