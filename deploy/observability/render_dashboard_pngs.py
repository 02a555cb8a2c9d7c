"""Render hotproxy-dashboard.json's panels into PNGs (docs/dashboard-*.png) from a real run, where
no Grafana runs: the script starts a hotproxy (2 workers, two clusters, one of whose two hosts is
down and health-checked out), puts it under load with a share of 5xx, reloads it twice (SIGHUP:
new generations), SIGKILLs a worker (a respawn), scrapes /stats/prometheus every SCRAPE_S
seconds, then plots each panel's own queries (promql_subset.py) with matplotlib.

    .venv/bin/python deploy/observability/render_dashboard_pngs.py [--seconds 120]
        [--samples scrapes.jsonl]   # keep the scrapes (or, when it exists, plot it without a run)
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from promql_subset import Series, evaluate, parse_exposition  # noqa: E402

SCRAPE_S = 2.0
RATE_WINDOW = "10s"
# The dashboard's rows, one PNG each: (file, title, panel titles)
FIGURES = (
    ("dashboard-traffic.png", "Traffic", ("Requests per second by listener", "Requests per second by cluster",
                                          "5xx share by connection manager", "5xx share by cluster")),
    ("dashboard-latency.png", "Latency", ("Downstream latency by connection manager (ms)",
                                          "Upstream latency by cluster (ms)")),
    ("dashboard-health.png", "Upstream health and reloads", ("Upstream health: healthy hosts / hosts", "Reloads",
                                                             "Generations: workers serving and draining",
                                                             "Worker and child respawns")),
    ("dashboard-process.png", "Processes", ("RSS per generation", "Open file descriptors per generation",
                                            "Access-log lines dropped")),
)


class Upstream(BaseHTTPRequestHandler):
    """A few milliseconds of work per request; 3% of them answer 503."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(random.expovariate(1 / 0.004))
        status = 503 if random.random() < 0.03 else 200
        body = b"ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass        # connections a killed worker left half-done: expected here


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(ports, upstream_port, dead_port, log_path):
    def cluster(name, hosts, health=False):
        out = {"name": name, "connect_timeout": "0.25s", "load_assignment": {"cluster_name": name, "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                              for port in hosts]}]}}
        if health:
            out["health_checks"] = [{"timeout": "0.25s", "interval": "1s", "unhealthy_threshold": 1,
                                     "healthy_threshold": 1, "http_health_check": {"path": "/health"}}]
        return out

    def listener(name, port, prefix, cluster_name):
        return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": prefix,
                    "access_log": [{"name": "file", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        "path": str(log_path)}}],
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                        {"match": {"prefix": "/"}, "route": {"cluster": cluster_name}}]}]},
                    "http_filters": [{"name": "router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}

    return json.dumps({
        "stats_flush_interval": "1s",
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ports["admin"]}}},
        "static_resources": {
            "listeners": [listener("web", ports["web"], "web", "web"), listener("api", ports["api"], "api", "api")],
            "clusters": [cluster("web", [upstream_port]), cluster("api", [upstream_port, dead_port], health=True)]}},
        indent=1)


def load(port, stop, pause):
    """One client: keep-alive requests until ``stop``, a new connection after any failure."""
    conn = None
    while not stop.is_set():
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/item")
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn = None
        time.sleep(pause)


def worker_pids(arbiter_pid):
    return [child.pid for child in psutil.Process(arbiter_pid).children()
            if "worker" in " ".join(child.cmdline())]


def run(seconds, samples_path):
    upstream = QuietServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))             # bound, never listening: connections refused
    ports = {name: free_port() for name in ("admin", "web", "api")}
    workdir = Path(tempfile.mkdtemp(prefix="hotproxy-dashboard-"))
    config_path = workdir / "hotproxy.json"
    config_path.write_text(config(ports, upstream.server_address[1], dead.getsockname()[1], workdir / "access.log"))
    proxy = subprocess.Popen([sys.executable, "-m", "hotproxy", "-c", str(config_path), "--concurrency", "2",
                              "--base-id", str(os.getpid() % 5000 + 20000)],
                             cwd=ROOT, stdout=open(workdir / "hotproxy.log", "wb"), stderr=subprocess.STDOUT)
    stop = threading.Event()
    try:
        wait_for(ports["admin"])
        for port, pause in ((ports["web"], 0.01), (ports["web"], 0.02), (ports["api"], 0.03)):
            threading.Thread(target=load, args=(port, stop, pause), daemon=True).start()
        events = {seconds * 0.3: "reload", seconds * 0.55: "kill", seconds * 0.75: "reload"}
        started = time.monotonic()
        with open(samples_path, "w") as out:
            while (elapsed := time.monotonic() - started) < seconds:
                for when in [when for when in events if when <= elapsed]:
                    act(events.pop(when), proxy)
                text = admin_get(ports["admin"], "/stats/prometheus")[1]
                out.write(json.dumps({"t": round(elapsed, 3), "text": text}) + "\n")
                time.sleep(max(0.0, SCRAPE_S - (time.monotonic() - started - elapsed)))
    finally:
        stop.set()
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(10)
        upstream.shutdown()
        dead.close()


def act(event, proxy):
    if event == "reload":
        proxy.send_signal(signal.SIGHUP)
    else:
        os.kill(worker_pids(proxy.pid)[0], signal.SIGKILL)
    print(f"{event} at {time.strftime('%H:%M:%S')}", flush=True)


def admin_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_for(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if admin_get(port, "/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("hotproxy did not become ready")


def plot(samples_path, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scrapes = [json.loads(line) for line in Path(samples_path).read_text().splitlines()]
    series = Series([(scrape["t"], parse_exposition(scrape["text"])) for scrape in scrapes])
    times = [scrape["t"] for scrape in scrapes]
    panels = {panel["title"]: panel for panel in json.loads((HERE / "hotproxy-dashboard.json").read_text())["panels"]}
    variables = {"$__rate_interval": RATE_WINDOW, "$job": ".*", "$instance": ".*"}
    for file_name, figure_title, titles in FIGURES:
        figure, axes = plt.subplots(len(titles), 1, figsize=(9, 2.6 * len(titles)), sharex=True, squeeze=False)
        for axis, title in zip(axes[:, 0], titles):
            panel = panels[title]
            for target in panel["targets"]:
                lines = {}
                for t in times:
                    for labels, value in evaluate(target["expr"], series, t, variables).items():
                        lines.setdefault(labels, []).append((t, value))
                for labels, points in sorted(lines.items()):
                    legend = re.sub(r"\{\{(\w+)\}\}", lambda m: dict(labels).get(m.group(1), ""), target["legendFormat"])
                    axis.plot([p[0] for p in points], [p[1] for p in points], label=legend, linewidth=1.2)
            axis.set_title(title, fontsize=10, loc="left")
            axis.set_ylabel(panel["fieldConfig"]["defaults"]["unit"], fontsize=8)
            axis.grid(alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=7, loc="upper left", ncol=3)
        axes[-1, 0].set_xlabel("seconds into the run")
        figure.suptitle(f"hotproxy dashboard: {figure_title}", fontsize=12)
        figure.tight_layout()
        figure.savefig(out_dir / file_name, dpi=90)
        plt.close(figure)
        print(f"wrote {out_dir / file_name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--samples", type=Path, help="the scrapes (JSON lines); plotted without a run if present")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    samples = args.samples or Path(tempfile.mkdtemp()) / "scrapes.jsonl"
    if not samples.exists():
        run(args.seconds, samples)
    plot(samples, args.out)


if __name__ == "__main__":
    main()
