"""Reload soak: steady traffic of several kinds while the proxy is reloaded many times, counting
every request that fails. Run it against hotproxy (SIGHUP reloads), hotproxy's hot restart (a new
arbiter epoch per reload, through hotproxy-restarter or SIGUSR2) or Envoy (hot restart: a new epoch
started with --restart-epoch N+1, as Envoy's hot-restarter does on SIGHUP).

Traffic, all with clients that never retry:
- keep-alive: ``http.client`` connections, one per client, POSTing with pauses of 0-5 s between
  requests, so that reloads land while connections sit idle (the keep-alive close race);
- fresh: a new connection per request;
- long: always one request in flight that takes 3 s upstream.
Reloads: spaced (one every --spacing s) and, every tenth, a burst of five SIGHUPs 10 ms apart.

    python bench/soak_reload.py --reloads 200                 # hotproxy
    python bench/soak_reload.py --target hotproxy-restarter --reloads 100  # hotproxy hot restart
    python bench/soak_reload.py --target hotproxy-sigusr2 --reloads 100
    python bench/soak_reload.py --target envoy --reloads 100  # Envoy hot restart
    python bench/soak_reload.py --tls --reloads 200           # the same over TLS (bench/soak_tls.py)

Prints requests ok/failed by kind, the arbiter's RSS and open fds before and after, and draws a
timeline (requests/s, p99, failures, a mark per reload) as a PNG (needs matplotlib).
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

from soak_tls import connection_factory, transport_socket

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

CONFIG = """
static_resources:
  listeners:
  - name: soak
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {listen} }} }}
    filter_chains:
    - {transport}filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: soak
          route_config:
            virtual_hosts:
            - name: soak
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: upstream, timeout: 30s }}
                response_headers_to_add:
                - header: {{ key: x-config-version, value: "{version}" }}
          http_filters:
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
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {upstream} }} }} }}
"""


class UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # socketserver's default of 5 refuses connections under bursts

    def handle_error(self, request, client_address):
        pass  # a proxy that cut a request shows up in the client's counts, not as a traceback here


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/slow"):
            time.sleep(3)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


#: set by --tls (bench/soak_tls.py): the chain's transport socket, and how clients connect
TRANSPORT = ""
connect = connection_factory(None)


def config_text(listen, upstream, version):
    return CONFIG.format(listen=listen, upstream=upstream, version=version,
                         transport=TRANSPORT + ("\n      " if TRANSPORT else ""))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []        # (t, kind, ok, latency, error)

    def add(self, kind, ok, latency, error=None):
        with self.lock:
            self.events.append((time.monotonic(), kind, ok, latency, error))


def one_request(conn, method, path, body):
    started = time.monotonic()
    conn.request(method, path, body=body, headers={"Host": "soak"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}: {body[:100]!r}")
    return time.monotonic() - started


def keep_alive_client(port, recorder, stop, max_pause):
    conn = connect(port, 30)
    while not stop.is_set():
        started = time.monotonic()
        try:
            recorder.add("keep-alive", True, one_request(conn, "POST", "/ka", b"x" * 512))
        except Exception as exc:  # noqa: BLE001 — every failure is the measurement
            recorder.add("keep-alive", False, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = connect(port, 30)
        stop.wait(random.uniform(0, max_pause))
    conn.close()


def fresh_client(port, recorder, stop):
    while not stop.is_set():
        started = time.monotonic()
        conn = connect(port, 30)
        try:
            recorder.add("fresh", True, one_request(conn, "GET", "/fresh", None))
        except Exception as exc:  # noqa: BLE001
            recorder.add("fresh", False, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()
        stop.wait(0.01)


def long_client(port, recorder, stop):
    conn = connect(port, 60)
    while not stop.is_set():
        started = time.monotonic()
        try:
            recorder.add("long", True, one_request(conn, "GET", "/slow", None))
        except Exception as exc:  # noqa: BLE001
            recorder.add("long", False, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = connect(port, 60)


class HotproxyTarget:
    name = "hotproxy"

    def __init__(self, workdir, listen, upstream, args):
        self.config = workdir / "soak.yaml"
        self.config.write_text(config_text(listen, upstream, 0))
        self.listen, self.upstream = listen, upstream
        self.log = open(workdir / "hotproxy.log", "wb")
        self.process = subprocess.Popen([str(VENV_BIN / "hotproxy"), "-c", str(self.config), "--concurrency",
                                         str(args.concurrency), "-l", "warning"], stdout=self.log, stderr=self.log)

    def reload(self, version):
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(config_text(self.listen, self.upstream, version))
        os.replace(tmp, self.config)
        self.process.send_signal(signal.SIGHUP)

    def arbiter(self):
        return psutil.Process(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


class HotRestartTarget:
    """hotproxy's hot restart: each reload starts a new arbiter epoch, either through
    hotproxy-restarter (SIGHUP to it) or by SIGUSR2 to the serving arbiter (its pid file)."""

    def __init__(self, workdir, listen, upstream, args):
        self.name = args.target
        self.config = workdir / "soak.yaml"
        self.config.write_text(config_text(listen, upstream, 0))
        self.listen, self.upstream = listen, upstream
        self.pid_file = workdir / "hotproxy.pid"
        self.log = open(workdir / "hotproxy.log", "wb")
        command = [str(VENV_BIN / "hotproxy"), "-c", str(self.config), "--concurrency", str(args.concurrency),
                   "-l", "warning", "--base-id", str(random.randint(1000, 60000)), "--pid-file", str(self.pid_file)]
        if self.name == "hotproxy-restarter":
            self.process = subprocess.Popen([str(VENV_BIN / "hotproxy-restarter"), "--", *command],
                                            stdout=self.log, stderr=self.log)
        else:
            self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log)

    def serving_pid(self):
        deadline = time.monotonic() + 20
        while True:
            try:
                return int(self.pid_file.read_text())
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def reload(self, version):
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(config_text(self.listen, self.upstream, version))
        os.replace(tmp, self.config)
        if self.name == "hotproxy-restarter":
            self.process.send_signal(signal.SIGHUP)
        else:
            os.kill(self.serving_pid(), signal.SIGUSR2)

    def arbiter(self):
        return psutil.Process(self.serving_pid())

    def stop(self):
        if self.name == "hotproxy-restarter":
            self.process.terminate()
            self.process.wait(20)
            return
        serving = psutil.Process(self.serving_pid())
        serving.terminate()  # the epochs before it have exited or exit as they drain
        serving.wait(20)


class EnvoyTarget:
    """Envoy's hot restart, driven the way its hot-restarter.py does: each reload starts epoch N+1."""
    name = "envoy"

    def __init__(self, workdir, listen, upstream, args):
        self.workdir, self.listen, self.upstream, self.args = workdir, listen, upstream, args
        self.base_id = random.randint(1000, 60000)
        self.epoch = -1
        self.processes = []
        self.reload(0)

    def reload(self, version):
        self.epoch += 1
        config = self.workdir / f"envoy-{self.epoch}.yaml"
        config.write_text(config_text(self.listen, self.upstream, version))
        log = open(self.workdir / f"envoy-{self.epoch}.log", "wb")
        self.processes.append(subprocess.Popen(
            [str(VENV_BIN / "envoy"), "-c", str(config), "--concurrency", str(self.args.concurrency), "-l", "warning",
             "--base-id", str(self.base_id), "--restart-epoch", str(self.epoch),
             "--drain-time-s", "2", "--parent-shutdown-time-s", "5"], stdout=log, stderr=log))

    def arbiter(self):
        return psutil.Process(self.processes[-1].pid)

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = connect(port, 2)
            one_request(conn, "GET", "/probe", None)
            conn.close()
            return
        except Exception:  # noqa: BLE001
            time.sleep(0.1)
    raise RuntimeError(f"port {port} never answered 200")


def process_footprint(process):
    try:
        return process.memory_info().rss, process.num_fds()
    except psutil.Error:
        return 0, 0


def draw(recorder, reload_times, started, path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no timeline drawn (pip install '.[bench]')")
        return
    buckets = defaultdict(list)
    failures = Counter()
    for t, _kind, ok, latency, _error in recorder.events:
        second = int(t - started)
        buckets[second].append(latency)
        if not ok:
            failures[second] += 1
    seconds = sorted(buckets)
    rps = [len(buckets[s]) for s in seconds]
    p99 = [sorted(buckets[s])[int(len(buckets[s]) * 0.99) - 1 if len(buckets[s]) > 1 else 0] * 1000 for s in seconds]
    figure, (top, middle, bottom) = plt.subplots(3, 1, sharex=True, figsize=(12, 7))
    top.plot(seconds, rps, color="tab:blue")
    top.set_ylabel("requests/s")
    middle.plot(seconds, p99, color="tab:orange")
    middle.set_ylabel("p99 ms (incl. 3 s long requests)")
    bottom.bar(seconds, [failures[s] for s in seconds], color="tab:red")
    bottom.set_ylabel("failed requests")
    bottom.set_xlabel("seconds")
    for axis in (top, middle, bottom):
        for t in reload_times:
            axis.axvline(t - started, color="grey", alpha=0.25, linewidth=0.6)
    top.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    print(f"timeline: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=("hotproxy", "hotproxy-restarter", "hotproxy-sigusr2", "envoy"),
                        default="hotproxy")
    parser.add_argument("--reloads", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between spaced reloads")
    parser.add_argument("--keep-alive-clients", type=int, default=20)
    parser.add_argument("--fresh-clients", type=int, default=2)
    parser.add_argument("--max-pause", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--png", default=None, help="timeline path (default docs/soak-<target>.png)")
    parser.add_argument("--tls", action="store_true", help="the listener and every client speak TLS")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="hotproxy-soak-"))
    global TRANSPORT, connect
    if args.tls:
        TRANSPORT, context = transport_socket(workdir)
        connect = connection_factory(context)
    upstream = UpstreamServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    listen = free_port()
    target_class = {"hotproxy": HotproxyTarget, "envoy": EnvoyTarget}.get(args.target, HotRestartTarget)
    target = target_class(workdir, listen, upstream.server_address[1], args)
    recorder = Recorder()
    stop = threading.Event()
    try:
        wait_for(listen)
        time.sleep(1)
        rss_before, fds_before = process_footprint(target.arbiter())
        threads = [threading.Thread(target=keep_alive_client, args=(listen, recorder, stop, args.max_pause))
                   for _ in range(args.keep_alive_clients)]
        threads += [threading.Thread(target=fresh_client, args=(listen, recorder, stop)) for _ in range(args.fresh_clients)]
        threads.append(threading.Thread(target=long_client, args=(listen, recorder, stop)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(2)
        reload_times = []
        version = 0
        while version < args.reloads:
            burst = 5 if version % 10 == 9 and args.target == "hotproxy" else 1
            for _ in range(min(burst, args.reloads - version)):
                version += 1
                target.reload(version)
                reload_times.append(time.monotonic())
                time.sleep(0.01)
            time.sleep(args.spacing)
        time.sleep(max(args.max_pause, 4))
        stop.set()
        for thread in threads:
            thread.join(70)
        time.sleep(1)
        rss_after, fds_after = process_footprint(target.arbiter())
    finally:
        stop.set()
        target.stop()
        upstream.shutdown()

    by_kind = defaultdict(Counter)
    errors = Counter()
    for _t, kind, ok, _latency, error in recorder.events:
        by_kind[kind]["ok" if ok else "failed"] += 1
        if error:
            errors[error[:120]] += 1
    print(f"target {target.name}: {args.reloads} reloads over {time.monotonic() - started:.0f} s")
    for kind in ("keep-alive", "fresh", "long"):
        print(f"  {kind:10} ok {by_kind[kind]['ok']:7}   failed {by_kind[kind]['failed']:5}")
    for error, count in errors.most_common(8):
        print(f"    {count:5} x {error}")
    print(f"  arbiter RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB, open fds {fds_before} -> {fds_after}")
    png = args.png or str(HERE.parent / "docs" / f"soak-{target.name}{'-tls' if args.tls else ''}.png")
    draw(recorder, reload_times, started, png, f"{target.name}{' over TLS' if args.tls else ''}: {args.reloads} reloads, "
         f"{sum(c['failed'] for c in by_kind.values())} failed requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
