"""How connections and requests spread over the workers under a skewed load (issue #23,
"Balanced workers"): balance, not throughput. Interleaved repetitions, medians.

Targets (``--targets``, all by default), each with 2 workers (``--workers``):
- ``hotproxy``: today's default: every worker accepts on one shared listening socket (hotproxy
  does not apply ``enable_reuse_port``); the kernel wakes every worker for a connection and the
  first one to call accept() takes it;
- ``hotproxy-exact``: the same with ``connection_balance_config: {exact_balance: {}}``
  (hotproxy/listener/balance.py);
- ``envoy``: Envoy 1.40 with ``--concurrency 2`` and its Linux default ``enable_reuse_port: true``
  (one socket per worker; the kernel hashes each connection to one of them);
- ``envoy-shared``: Envoy with ``enable_reuse_port: false`` (one socket, like hotproxy);
- ``envoy-exact``: Envoy with exact_balance (and reuse_port).

The load (bench/balance_load.py): ``--long`` (4) keep-alive connections opened at once, each then
asking for a 64 KiB body back to back (the busy ones), and ``--short`` (8) clients opening a new
connection per 12 B request, for ``--seconds``. Per worker it reports where the long connections
landed, how many short connections it accepted, the requests it served and the CPU it used, and
the busiest worker's share of each (50% is even with two workers); ``spread`` is the median over
the run of (most - fewest) open connections per worker.

hotproxy's per-worker figures come from its worker processes (psutil) and from the backend, which
counts requests by upstream port (each port belongs to one worker); Envoy's from its per-worker
listener stats (``listener.<addr>.worker_N.*``) and its ``wrk:worker_N`` threads' CPU. Envoy's
requests per worker are not measurable that way (its threads share one socket table): "-".

``--herd`` adds a pass per hotproxy target with ``strace -c`` on each worker: accept4() calls,
the EAGAIN ones (a worker woken for a connection another took), and epoll_wait() calls, per
accepted connection. bench/balance_kernel.py measures the kernel's spread without a proxy.

    python bench/balance.py                        # 3 repetitions of 5 s per target
    python bench/balance.py --reps 5 --herd
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from spread import movement
from strace_summary import parse_strace_summary

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LOAD = [sys.executable, str(Path(__file__).with_name("balance_load.py"))]
TARGETS = ["hotproxy", "hotproxy-exact", "envoy", "envoy-shared", "envoy-exact"]
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(target, listen, admin, backend):
    listener = {"name": "bench",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {
                    "@type": HCM, "stat_prefix": "bench", "http_filters": [
                        {"name": "router", "typed_config": {"@type": ROUTER}}],
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]}]}}}]}]}
    if target.endswith("-exact"):
        listener["connection_balance_config"] = {"exact_balance": {}}
    if target == "envoy-shared":
        listener["enable_reuse_port"] = False
    cluster = {"name": "backend", "type": "STATIC", "connect_timeout": "1s",
               "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                "port_value": backend}}}}]}]}}
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {"listeners": [listener], "clusters": [cluster]}}


class Proxy:
    """One target, started on its config; ``workers()`` its worker units as
    ``{name: pid or (pid, tid)}``."""

    def __init__(self, target, workers, directory, ports):
        self.target, self.ports = target, ports
        path = Path(directory) / f"{target}.json"
        path.write_text(json.dumps(config(target, ports["listen"], ports["admin"], ports["backend"])))
        self.log = open(Path(directory) / f"{target}.log", "wb")
        if target.startswith("envoy"):
            argv = [str(BIN / "envoy"), "-c", str(path), "--concurrency", str(workers), "-l", "error",
                    "--disable-hot-restart"]
        else:
            argv = [str(BIN / "hotproxy"), "-c", str(path), "--concurrency", str(workers), "-l", "error",
                    "--base-id", str(os.getpid() % 1000 * 10 + 7)]
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.envoy = target.startswith("envoy")
        self._wait_ready(workers)

    def _wait_ready(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.target} exited: see its log")
            try:
                if len(self.workers()) == count and self.stats("server.state") == {"server.state": 0}:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.target} did not start")

    def stats(self, pattern):
        url = f"http://127.0.0.1:{self.ports['admin']}/stats?format=json&filter={pattern}"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return {s["name"]: s.get("value", 0) for s in json.load(reply)["stats"] if "name" in s}

    def workers(self):
        if self.envoy:
            found = {}
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                name = (task / "comm").read_text().strip()
                if name.startswith("wrk:worker_"):
                    found[name.removeprefix("wrk:")] = (self.process.pid, int(task.name))
            return found
        return {f"pid {child.pid}": child.pid for child in psutil.Process(self.process.pid).children()
                if "worker" in " ".join(child.cmdline())}

    def cpu_seconds(self):
        ticks = os.sysconf("SC_CLK_TCK")
        seconds = {}
        for name, unit in self.workers().items():
            if isinstance(unit, tuple):
                fields = Path(f"/proc/{unit[0]}/task/{unit[1]}/stat").read_text().rsplit(")", 1)[1].split()
                seconds[name] = (int(fields[11]) + int(fields[12])) / ticks
            else:
                times = psutil.Process(unit).cpu_times()
                seconds[name] = times.user + times.system
        return seconds

    def open_per_worker(self, only_ports=None):
        """{worker: established downstream connections} (hotproxy: psutil; Envoy: its stats)."""
        listen = self.ports["listen"]
        if self.envoy:
            stats = self.stats(r"worker_\d+\.downstream_cx_active")
            return {name: stats.get(f"listener.127.0.0.1_{listen}.{name}.downstream_cx_active", 0)
                    for name in self.workers()}
        counts = {}
        for name, pid in self.workers().items():
            counts[name] = sum(1 for c in psutil.Process(pid).net_connections("tcp")
                               if c.laddr.port == listen and c.status == psutil.CONN_ESTABLISHED
                               and (only_ports is None or c.raddr.port in only_ports))
        return counts

    def accepted_per_worker(self):
        listen = self.ports["listen"]
        stats = self.stats(r"worker_\d+\.downstream_cx_total")
        return {name: stats.get(f"listener.127.0.0.1_{listen}.{name}.downstream_cx_total", 0)
                for name in self.workers()}

    def upstream_ports(self):
        """{upstream local port: worker} (hotproxy only)."""
        owners = {}
        for name, pid in self.workers().items():
            for c in psutil.Process(pid).net_connections("tcp"):
                if c.raddr and c.raddr.port == self.ports["backend"]:
                    owners[c.laddr.port] = name
        return owners

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def busiest_share(per_worker):
    total = sum(per_worker.values())
    return 100.0 * max(per_worker.values()) / total if total else float("nan")


def run_once(target, args, directory, strace=False):
    ports = {"listen": free_port(), "admin": free_port(), "backend": free_port()}
    backend = subprocess.Popen(LOAD + ["backend", str(ports["backend"])], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    backend.stdout.readline()
    proxy = Proxy(target, args.workers, directory, ports)
    tracers = []
    try:
        if strace:
            tracers = [(name, subprocess.Popen(["strace", "-c", "-f", "-e", "trace=accept4,epoll_wait",
                                                "-o", f"{directory}/strace-{pid}", "-p", str(pid)],
                                               stderr=subprocess.DEVNULL), pid)
                       for name, pid in proxy.workers().items()]
            time.sleep(1.0)                          # strace attached
        load = subprocess.Popen(LOAD + ["load", str(ports["listen"]), str(args.long), str(args.short),
                                        str(args.seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        long_ports = {int(port) for port in load.stdout.readline().split()[1:]}
        time.sleep(0.3)
        longs = proxy.open_per_worker(long_ports)
        accepted_before = proxy.accepted_per_worker() if proxy.envoy else None
        cpu_before = proxy.cpu_seconds()
        owners, spreads, stop = {}, [], threading.Event()

        def sample():
            while not stop.wait(0.25):
                try:
                    open_now = proxy.open_per_worker()
                    spreads.append(max(open_now.values()) - min(open_now.values()))
                    if not proxy.envoy:
                        owners.update(proxy.upstream_ports())
                except (OSError, psutil.Error, ValueError):
                    pass

        sampler = threading.Thread(target=sample)
        sampler.start()
        load.stdin.write("go\n")
        load.stdin.flush()
        totals = json.loads(load.stdout.readline())
        stop.set()
        sampler.join()
        cpu = {name: seconds - cpu_before.get(name, 0.0) for name, seconds in proxy.cpu_seconds().items()}
        if proxy.envoy:
            after = proxy.accepted_per_worker()
            shorts = {name: after[name] - accepted_before[name] for name in after}
            requests = None
        else:
            owners.update(proxy.upstream_ports())
        herd = _herd(tracers, directory) if tracers else None
    finally:
        for _name, tracer, _pid in tracers:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(10)
        proxy.stop()
    backend.stdin.close()
    counts = json.loads(backend.stdout.readline())
    backend.wait(10)
    if not proxy.envoy:
        shorts, requests = {name: 0 for name in cpu}, {name: 0 for name in cpu}
        for kind in ("long", "short"):
            for port, served in counts[kind].items():
                name = owners.get(int(port), "unmapped")
                requests[name] = requests.get(name, 0) + served
                if kind == "short":
                    shorts[name] = shorts.get(name, 0) + served
    return {"target": target, "long": sorted(longs.values(), reverse=True), "short": shorts,
            "requests": requests, "cpu": cpu, "spread": statistics.median(spreads) if spreads else float("nan"),
            "totals": totals, "herd": herd}


def _herd(tracers, directory):
    """{worker: (accept4 calls, EAGAIN ones, epoll_wait calls)} once strace wrote its tables."""
    for _name, tracer, _pid in tracers:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    result = {}
    for name, _tracer, pid in tracers:
        counts = parse_strace_summary(Path(f"{directory}/strace-{pid}").read_text())
        calls, errors = counts.get("accept4", (0, 0))
        result[name] = (calls, errors, counts.get("epoll_wait", (0, 0))[0])
    return result


def summarize(rows):
    """One line per target: medians over the repetitions, and how far each figure moved."""
    def median_share(key):
        values = [busiest_share({k: v for k, v in row[key].items() if k != "unmapped"})
                  for row in rows if row[key]]
        if not values:
            return "-", 0.0
        return f"{statistics.median(values):.0f}%", movement(values)

    longs = " ".join("/".join(map(str, row["long"])) for row in rows)
    short, short_moved = median_share("short")
    requests, requests_moved = median_share("requests")
    cpu, cpu_moved = median_share("cpu")
    spread = statistics.median(row["spread"] for row in rows)
    rate = statistics.median((row["totals"]["long"] + row["totals"]["short"]) / ARGS.seconds for row in rows)
    errors = sum(row["totals"]["errors"] for row in rows)
    return (f"| {rows[0]['target']} | {longs} | {short} | {requests} | {cpu} | {spread:g} | {rate:.0f} | {errors} |",
            max(short_moved, requests_moved, cpu_moved))


def herd_line(rows):
    per_connection = []
    for row in rows:
        calls = sum(c for c, _e, _w in row["herd"].values())
        errors = sum(e for _c, e, _w in row["herd"].values())
        waits = sum(w for _c, _e, w in row["herd"].values())
        accepted = max(calls - errors, 1)
        per_connection.append((calls / accepted, errors / accepted, waits / accepted,
                               "/".join(str(c - e) for c, e, _w in row["herd"].values())))
    med = [statistics.median(values[i] for values in per_connection) for i in range(3)]
    split = " ".join(values[3] for values in per_connection)
    return (f"| {rows[0]['target']} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} | {split} |")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--long", type=int, default=4)
    parser.add_argument("--short", type=int, default=8)
    parser.add_argument("--herd", action="store_true")
    ARGS = args = parser.parse_args()
    targets = args.targets.split(",")
    rows = {target: [] for target in targets}
    herds = {target: [] for target in targets if target.startswith("hotproxy")} if args.herd else {}
    with tempfile.TemporaryDirectory() as directory:
        for rep in range(args.reps):                  # interleaved: every target once per round
            for target in targets:
                rows[target].append(run_once(target, args, directory))
                print(f"rep {rep + 1} {target}: {json.dumps(rows[target][-1])}", file=sys.stderr, flush=True)
            for target in herds:
                herds[target].append(run_once(target, args, directory, strace=True))
                print(f"rep {rep + 1} {target} (strace): {herds[target][-1]['herd']}", file=sys.stderr, flush=True)
    print(f"{args.workers} workers, {args.long} long busy connections + {args.short} short-connection clients, "
          f"{args.seconds:g} s, median of {args.reps} interleaved repetitions; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| target | long connections per worker (each rep) | short conns: busiest worker | "
          "requests: busiest | CPU: busiest | open-connection spread | req/s | errors |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for target in targets:
        line, moved = summarize(rows[target])
        print(line)
        if moved > 0.10:
            notes.append(f"{target}: a busiest-worker share moved {moved * 100:.0f}% between repetitions")
    for note in notes:
        print(f"\n{note}")
    if herds:
        print("\n| target (under strace) | accept4/conn | EAGAIN/conn | epoll_wait/conn | accepted per worker |")
        print("|---|---|---|---|---|")
        for target, target_rows in herds.items():
            print(herd_line(target_rows))


ARGS = None

if __name__ == "__main__":
    main()
