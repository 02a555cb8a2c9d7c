"""xDS at scale: what a control plane of 1,000 clusters and 10,000 endpoints costs hotproxy, beside
Envoy 1.40 on the same management server (tests/integration/xds_server.py, over ADS, state of the
world). `make bench-xds` runs it.

The control plane serves N EDS clusters (``--clusters``, default 1,000) of M endpoints in all
(``--endpoints``, default 10,000: ten per cluster), one listener whose routes come from RDS (one
prefix route per cluster, /cNNNN/), and the assignment of one more cluster that is not there yet
(for the CDS phase). The endpoints of all clusters but the last are ports of 127.0.0.1 nobody
listens on (no traffic goes there); the last cluster, the *probe cluster*, points at one of two
local upstreams (A and B, ten ports each). Measured, for each proxy started (``--reps`` times,
the targets interleaved):

- start: from the process's start to the "serving:" log line (hotproxy) and to the first 200
  through the probe cluster (both proxies: the first generation up with everything);
- eds-1: the probe cluster's ten endpoints move from one upstream to the other; eds-all: every
  cluster's endpoints change at once (all 10,000), the probe cluster's moving likewise. Each is
  timed from the control plane's set() to the moment every worker routes to the new upstream;
- cds-add (hotproxy, and Envoy the same way): one cluster added (its assignment already served),
  timed from set() to the first 200 through its route, and for hotproxy to the arbiter's
  "reload N: generation G serving" line; then cds-remove takes it away again.

How "every worker routes to the new upstream" is seen, with nothing added to the product: probe
clients open a fresh connection per request (the kernel spreads them over the workers'
SO_REUSEPORT sockets) to the probe cluster's route, and the upstreams record each request they
serve; for hotproxy each upstream connection is traced to the worker process that opened it
(its socket in /proc). "Every worker moved" is when each worker's requests have reached the new
upstream and none reaches the old one any more; Envoy's workers are threads of one process, not
told apart, so for it that is the first request on the new upstream after the last on the old.
The resolution is a few probe spacings (``--probe-gap``). A worker that applies an update serves
nothing meanwhile: the longest probe of a phase is that stall.

CPU seconds per process (user+system, from /proc/<pid>/stat, sampled every 100 ms so that a
process that exits mid-phase counts) cover each phase from set() until every process is quiet
again, less what the process uses at rest over as long (``--idle`` seconds without traffic are
measured after the start, and reported per minute: stats shipping and the like) and, for the
workers, less the probes' own cost (measured per request at rest). RSS is read once the first
generation serves and settles, and again at the end.

    python bench/xds_scale.py                          # 3 reps, both proxies (~8 min)
    python bench/xds_scale.py --quick                  # 1 rep, one round of updates
    python bench/xds_scale.py --targets hotproxy --clusters 200 --endpoints 2000
    python bench/xds_scale.py --hotproxy-tree /tmp/head   # the hotproxy of another checkout

hotproxy runs ``python -m hotproxy --concurrency 2`` (``--concurrency``), Envoy
``envoy --concurrency 2``; neither is pinned to a CPU (the xDS process, the arbiter and the
workers of hotproxy are separate processes that run in parallel).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from xds_configs import ads_bootstrap, assignment, eds_cluster, rds_listener  # noqa: E402
from xds_control import XdsServer  # noqa: E402

VENV_BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")
UPSTREAM_PORTS = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- what each process costs -------------------------------------------------------------------

def cpu_seconds(pid):
    """user+system seconds of ``pid`` from /proc/<pid>/stat; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid):
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def role_of(process, root_pid, kind):
    """hotproxy: arbiter, xds, flusher, worker; Envoy: envoy."""
    if kind == "envoy":
        return "envoy"
    if process.pid == root_pid:
        return "arbiter"
    try:
        line = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    for role, marks in (("worker", ("hotproxy.process.worker", "worker")), ("xds", ("xds_child", ": xds")),
                        ("flusher", ("flusher",))):
        if any(mark in line for mark in marks):
            return role
    return "other"


class CpuSampler:
    """Every 100 ms, the CPU seconds of every process of a proxy (and of the management server),
    by pid, last seen value kept: a phase's CPU is each pid's growth over it, a process that
    exited counted up to its last sample."""

    def __init__(self, root_pid, kind, server_pid):
        self.root_pid, self.kind, self.server_pid = root_pid, kind, server_pid
        self.seen = {}       # pid -> (role, cpu seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sample()
        #: what the processes had used when the proxy started: nothing but the management
        #: server's, which serves every run
        self.initial = {pid: seen for pid, seen in self.seen.items() if seen[0] == "control-plane"}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def processes(self):
        try:
            root = psutil.Process(self.root_pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self):
        found = [(p.pid, role_of(p, self.root_pid, self.kind)) for p in self.processes()]
        found.append((self.server_pid, "control-plane"))
        with self._lock:
            for pid, role in found:
                cpu = cpu_seconds(pid)
                if cpu is None:
                    continue
                # a role once known stays (a zombie has no command line; a child between fork and
                # exec has its parent's)
                known = self.seen.get(pid, ("other",))[0]
                self.seen[pid] = (role if known == "other" and role != "gone" else known, cpu)

    def snapshot(self):
        self.sample()
        with self._lock:
            return dict(self.seen)

    def _run(self):
        while not self._stop.wait(0.1):
            self.sample()

    def stop(self):
        self._stop.set()

    @staticmethod
    def by_role(before, after):
        roles = {}
        for pid, (role, cpu) in after.items():
            roles[role] = roles.get(role, 0.0) + cpu - (before[pid][1] if pid in before else 0.0)
        return roles

    def settle(self, quiet=0.02, window=0.5, timeout=60.0):
        """Wait until the proxy's processes (not the management server) used less than ``quiet``
        CPU seconds over ``window``."""
        deadline = time.monotonic() + timeout

        def total():
            snap = self.snapshot()
            return sum(cpu for role, cpu in snap.values() if role != "control-plane")
        last = total()
        while time.monotonic() < deadline:
            time.sleep(window)
            now = total()
            if now - last < quiet:
                return True
            last = now
        return False


# --- the upstreams and the probes --------------------------------------------------------------

class Upstream:
    """A minimal HTTP/1.1 keep-alive server on ``UPSTREAM_PORTS`` ports of 127.0.0.1 that answers
    200 to everything and records each request: (monotonic time, its name, the pid of the
    process whose socket connected, when ``owner`` finds it)."""

    def __init__(self, name, hits, owner):
        self.name, self.hits, self.owner = name, hits, owner
        self.sockets = []
        for _ in range(UPSTREAM_PORTS):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(512)
            self.sockets.append(sock)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        self.ports = [s.getsockname()[1] for s in self.sockets]

    def _accept(self, sock):
        port = sock.getsockname()[1]
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer[1], port), daemon=True).start()

    def _serve(self, conn, peer_port, port):
        pid = self.owner(peer_port, port)
        buffer = b""
        with conn:
            try:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                    _head, _, buffer = buffer.partition(b"\r\n\r\n")
                    self.hits.append((time.monotonic(), self.name, pid))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                return


class Owners:
    """Which of the ``pids`` (hotproxy's workers) holds the TCP socket from 127.0.0.1:``peer_port``
    to ``port``: found from their sockets in /proc, as the upstream accepts it."""

    def __init__(self):
        self.pids = []

    def __call__(self, peer_port, port):
        for pid in list(self.pids):
            try:
                for conn in psutil.Process(pid).net_connections("tcp4"):
                    if conn.laddr and conn.raddr and conn.laddr.port == peer_port and conn.raddr.port == port:
                        return pid
            except psutil.Error:
                continue
        return None


def http_status(port, path, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data:
        raise ConnectionResetError("closed without a response")
    return int(data.split(b" ", 2)[1])


class Prober:
    """``threads`` clients, each a fresh connection per request to the paths in turn, ``gap``
    seconds apart; records (start, end, path, status or the error's name)."""

    def __init__(self, port, paths, threads, gap):
        self.port, self.gap = port, gap
        self.paths = itertools.cycle(paths)
        self.results = []
        self.running = threading.Event()
        self._stop = threading.Event()
        for _ in range(threads):
            threading.Thread(target=self._loop, daemon=True).start()

    def set_paths(self, paths):
        self.paths = itertools.cycle(paths)

    def _loop(self):
        while not self._stop.is_set():
            if not self.running.wait(0.1):
                continue
            path = next(self.paths)
            started = time.monotonic()
            try:
                status = http_status(self.port, path)
            except OSError as error:
                status = type(error).__name__
            self.results.append((started, time.monotonic(), path, status))
            time.sleep(self.gap)

    def since(self, t):
        return [r for r in self.results if r[0] >= t]

    def stop(self):
        self._stop.set()
        self.running.set()


# --- the control plane's state -----------------------------------------------------------------

def cluster_name(i):
    return f"c{i:04d}"


class ControlPlane:
    """What the management server serves: ``clusters`` EDS clusters of ``per`` endpoints each (the
    last one, the probe cluster, on upstream A or B), one RDS listener, and the assignment of
    the extra cluster (``cluster_name(clusters)``, on upstream B) for the CDS phase."""

    def __init__(self, server, clusters, endpoints, port, upstreams, fetch_timeout):
        self.server, self.n, self.port, self.upstreams = server, clusters, port, upstreams
        self.per = max(1, endpoints // clusters)
        self.source = {"ads": {}, "resource_api_version": "V3"}
        if fetch_timeout is not None:
            self.source["initial_fetch_timeout"] = fetch_timeout
        self.extra = cluster_name(clusters)
        self.probe = cluster_name(clusters - 1)
        self.version = 0
        self.side = "A"
        self.flip = 0          # which port range the other clusters' endpoints are on

    def cluster(self, name):
        return eds_cluster(name, source=self.source)

    def clusters(self, with_extra=False):
        return [self.cluster(cluster_name(i)) for i in range(self.n + (1 if with_extra else 0))]

    def endpoints(self):
        base = 20000 + self.flip * 20000
        out = [assignment(cluster_name(i), *[base + (i * self.per + j) % 20000 for j in range(self.per)])
               for i in range(self.n - 1)]
        ports = self.upstreams[self.side].ports
        out.append(assignment(self.probe, *[ports[j % len(ports)] for j in range(self.per)]))
        out.append(assignment(self.extra, self.upstreams["B"].ports[0]))
        return out

    def routes(self):
        return [{"name": "routes", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": f"/{cluster_name(i)}/"}, "route": {"cluster": cluster_name(i)}}
            for i in range(self.n + 1)]}]}]

    def next_version(self):
        self.version += 1
        return str(self.version)

    def reset(self):
        """The initial state, served (before a proxy starts)."""
        self.side, self.flip = "A", 0
        version = self.next_version()
        for kind, resources in (("clusters", self.clusters()), ("endpoints", self.endpoints()),
                                ("routes", self.routes()),
                                ("listeners", [rds_listener("web", self.port, "routes", source=self.source)])):
            self.server.set(kind, resources, version=version)

    def move_probe(self, everything):
        """The probe cluster to the other upstream; with ``everything``, every other cluster's
        endpoints to other ports too. Returns (the version, the new side)."""
        self.side = "B" if self.side == "A" else "A"
        if everything:
            self.flip ^= 1
        version = self.next_version()
        self.server.set("endpoints", self.endpoints(), version=version)
        return version, self.side

    def set_clusters(self, with_extra):
        version = self.next_version()
        self.server.set("clusters", self.clusters(with_extra), version=version)
        return version


# --- one proxy ---------------------------------------------------------------------------------

LOG_MARKS = {
    "fetch_wait": re.compile(r"waiting for the initial xDS fetch"),
    "accepted": re.compile(r"(\w+) version '([^']*)' accepted"),
    "worker_started": re.compile(r"started hotproxy: worker \d+ \[gen (\d+)\]"),
    "serving": re.compile(r"serving: \d+ workers, generation (\d+)"),
    "reloading": re.compile(r"xDS changed listeners or clusters: reloading"),
    "reloaded": re.compile(r"reload (\d+): generation (\d+) serving \(([\d.]+) s\)"),
    "reload_failed": re.compile(r"reload failed"),
    "timed_out": re.compile(r"initial fetch of .* timed out"),
}


class Proxy:
    """hotproxy or Envoy on an ADS bootstrap; its output read line by line with the monotonic time
    each line came (``events``: (time, mark, match) for the lines of LOG_MARKS)."""

    def __init__(self, kind, args, workdir, server, admin_port, base_id):
        self.kind, self.args = kind, args
        bootstrap = workdir / f"{kind}-bootstrap.json"
        bootstrap.write_text(json.dumps(ads_bootstrap(server.grpc_port, admin_port, node_id=f"bench-{kind}"),
                                        indent=1))
        self.log_path = workdir / f"{kind}-{base_id}.log"
        common = ["-c", str(bootstrap), "--concurrency", str(args.concurrency), "--base-id", str(base_id)]
        env, cwd = None, ROOT
        if kind == "envoy":
            argv = [str(VENV_BIN / "envoy"), *common, "-l", "info"]
        else:
            argv = [sys.executable, "-m", "hotproxy", *common]
            if args.hotproxy_tree:
                tree = str(Path(args.hotproxy_tree).resolve())
                env, cwd = {**os.environ, "PYTHONPATH": tree}, tree
        self.events = []
        self._log = open(self.log_path, "w")
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd,
                                        env=env, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            now = time.monotonic()
            self._log.write(f"{now - self.started:9.3f} {line}")
            for mark, pattern in LOG_MARKS.items():
                found = pattern.search(line)
                if found:
                    self.events.append((now, mark, found))
        self._log.close()

    def wait_event(self, mark, after, timeout, match=None):
        """The first event ``mark`` at or after ``after`` (for which ``match(found)`` holds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, name, found in list(self.events):
                if name == mark and t >= after and (match is None or match(found)):
                    return t, found
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: see {self.log_path}")
            time.sleep(0.02)
        raise TimeoutError(f"{self.kind}: no '{mark}' line within {timeout} s: see {self.log_path}")

    def event_times(self, mark, after, until=None):
        return [t for t, name, _ in list(self.events)
                if name == mark and t >= after and (until is None or t <= until)]

    def workers(self):
        """The pids of the serving generation's workers (hotproxy); Envoy's own pid."""
        if self.kind == "envoy":
            return [self.process.pid]
        found = {}
        try:
            for child in psutil.Process(self.process.pid).children():
                line = " ".join(child.cmdline())
                if "hotproxy.process.worker" in line or ": worker" in line:
                    gen = re.search(r"\[gen (\d+)\]", line)
                    found.setdefault(int(gen.group(1)) if gen else 0, []).append(child.pid)
        except psutil.Error:
            pass
        return found[max(found)] if found else []

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)


# --- the phases ----------------------------------------------------------------------------------

class Run:
    """One proxy started on the control plane's initial state, and the phases run against it."""

    def __init__(self, bench, kind, rep):
        self.bench, self.kind, self.rep = bench, kind, rep
        self.args = bench.args
        self.results = []           # (phase, metric, value)
        self.cpu = []               # (phase, {role: seconds})
        self.rss = {}

    def record(self, phase, metric, value):
        if value is not None:
            self.results.append((phase, metric, value))

    def run(self):
        bench, args = self.bench, self.args
        plane = bench.plane
        plane.reset()
        bench.owners.pids = []
        bench.hits.clear()
        prober = Prober(plane.port, [f"/{plane.probe}/probe"], args.probe_threads, args.probe_gap)
        prober.running.set()
        base_id = os.getpid() % 10000 + next(bench.base_ids) * 10000
        proxy = Proxy(self.kind, args, bench.workdir, bench.server, free_port(), base_id)
        sampler = CpuSampler(proxy.process.pid, self.kind, bench.server.pid)
        try:
            self.start(proxy, prober, sampler)
            self.calibrate(proxy, prober, sampler)
            for _ in range(args.updates):
                self.eds(proxy, prober, sampler, everything=False)
                self.eds(proxy, prober, sampler, everything=True)
            if "cds" in args.phases:
                self.cds(proxy, prober, sampler, add=True)
                self.cds(proxy, prober, sampler, add=False)
            self.rss_end = self.footprint(sampler)
        finally:
            prober.stop()
            sampler.stop()
            proxy.stop()
        return self

    def footprint(self, sampler):
        rss = {}
        for process in sampler.processes():
            role = role_of(process, sampler.root_pid, self.kind)
            rss.setdefault(role, []).append(rss_bytes(process.pid))
        return rss

    def start(self, proxy, prober, sampler):
        t0 = proxy.started
        first_ok = self.wait_probe(prober, t0, lambda r: r[3] == 200, self.args.timeout, proxy)
        self.record("start", "first 200 through the probe cluster", first_ok - t0)
        if self.kind == "hotproxy":
            serving, _ = proxy.wait_event("serving", t0, 10)
            self.record("start", "'serving:' log line", serving - t0)
            # where the time went: the initial fetch (the xDS process's last acceptance before the
            # first generation started), the arbiter composing and spawning, the workers' start
            spawned = proxy.event_times("worker_started", t0, serving)
            accepted = [t for t in proxy.event_times("accepted", t0) if not spawned or t <= spawned[0]]
            if accepted and spawned:
                self.record("start", "  fetch and check (xDS process)", accepted[-1] - t0)
                self.record("start", "  compose, spawn (arbiter)", spawned[0] - accepted[-1])
                self.record("start", "  workers up (spawn to serving)", serving - spawned[0])
        prober.running.clear()
        sampler.settle()
        self.cpu.append(("start", CpuSampler.by_role(sampler.initial, sampler.snapshot())))
        self.rss = self.footprint(sampler)

    def calibrate(self, proxy, prober, sampler):
        """What each process uses at rest (no traffic, nothing changing: its CPU seconds per
        second), then the workers' CPU per probe request beyond that; both are taken off each
        phase's figures."""
        self.idle_rate = {}
        if self.args.idle:
            before, started = sampler.snapshot(), time.monotonic()
            time.sleep(self.args.idle)
            roles = CpuSampler.by_role(before, sampler.snapshot())
            elapsed = time.monotonic() - started
            self.idle_rate = {role: cpu / elapsed for role, cpu in roles.items()}
            self.cpu.append(("idle, per minute", {role: rate * 60 for role, rate in self.idle_rate.items()}))
        before, started = sampler.snapshot(), time.monotonic()
        prober.running.set()
        time.sleep(self.args.calibrate)
        prober.running.clear()
        sampler.settle()
        count = len(prober.since(started))
        roles = CpuSampler.by_role(before, sampler.snapshot())
        role = "envoy" if self.kind == "envoy" else "worker"
        busy = roles.get(role, 0.0) - self.idle_rate.get(role, 0.0) * (time.monotonic() - started)
        self.probe_cpu = max(0.0, busy) / max(count, 1)
        self.record("rest", "CPU per probe request (ms)", self.probe_cpu * 1000)

    def wait_probe(self, prober, after, condition, timeout, proxy, started=False):
        """When the first probe begun at or after ``after`` for which ``condition`` holds ended
        (began, with ``started``)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            fresh = prober.results[seen:]
            seen += len(fresh)
            for r in fresh:
                if r[0] >= after and condition(r):
                    return r[0] if started else r[1]
            if proxy.process.poll() is not None:
                raise RuntimeError(f"{proxy.kind} exited: see {proxy.log_path}")
            time.sleep(0.02)
        raise TimeoutError(f"{proxy.kind}: the probes did not see it within {timeout} s: see {proxy.log_path}")

    def eds(self, proxy, prober, sampler, everything):
        bench, plane = self.bench, self.bench.plane
        phase = "eds-all" if everything else "eds-1"
        workers = proxy.workers()
        bench.owners.pids = workers if self.kind == "hotproxy" else []
        bench.hits.clear()
        prober.set_paths([f"/{plane.probe}/probe"])
        prober.running.set()
        time.sleep(0.3)             # the probes are flowing on the old upstream
        before = sampler.snapshot()
        wall, t_set = time.time(), time.monotonic()
        version, side = plane.move_probe(everything)
        t_put = time.monotonic()
        old = "A" if side == "B" else "B"
        deadline = t_set + self.args.timeout
        first = {}
        last_old = None
        seen = 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            fresh = bench.hits[seen:]
            seen += len(fresh)
            for t, name, pid in fresh:
                if t < t_set:
                    continue
                if name == side:
                    key = pid if self.kind == "hotproxy" else "any"
                    if key is not None and key not in first:
                        first[key] = t
                elif name == old and (last_old is None or t > last_old):
                    last_old = t
            done = all(pid in first for pid in workers) if self.kind == "hotproxy" else "any" in first
            if done and (last_old is None or now - last_old > 1.0) and now - max(first.values()) > 1.0:
                break
            time.sleep(0.05)
        else:
            raise TimeoutError(f"{self.kind} {phase}: not every worker moved within {self.args.timeout} s "
                               f"(first hits {first}, workers {workers})")
        prober.running.clear()
        probes = prober.since(t_set)
        sampler.settle()
        after = sampler.snapshot()
        seconds = time.monotonic() - t_set
        ack = bench.server.wait_for_ack("endpoints", version, timeout=30, node=f"bench-{self.kind}")
        # every worker has moved once requests reach the new upstream from each of them (hotproxy:
        # by pid; Envoy: its threads are not told apart, so from any) and none reaches the old
        moved = max(max(first.values()), last_old or t_set)
        self.record(phase, "every worker moved", moved - t_set)
        self.record(phase, "  the same, from set()'s return", moved - t_put)
        self.record(phase, "  control plane's own set()", t_put - t_set)
        self.record(phase, "  ACK at the control plane", ack["time"] - wall)
        if self.kind == "hotproxy":
            accepted = [t for t, name, found in list(proxy.events)
                        if name == "accepted" and t >= t_set and found.group(1) == "endpoints"
                        and found.group(2) == version]
            if accepted:
                self.record(phase, "  xDS process accepted it (its log)", accepted[0] - t_set)
        if last_old is not None:
            self.record(phase, "  last request on the old upstream", last_old - t_set)
        self.record(phase, "  first request on the new upstream", min(first.values()) - t_set)
        self.record(phase, "longest probe (a worker's stall)", max((r[1] - r[0] for r in probes), default=0.0))
        self.record(phase, "probe errors", sum(1 for r in probes if r[3] != 200))
        self.phase_cpu(phase, before, after, len(probes), seconds)

    def phase_cpu(self, phase, before, after, probes, seconds):
        """A phase's CPU by role, less what each process uses at rest over ``seconds`` and the
        workers' cost of the ``probes``."""
        roles = CpuSampler.by_role(before, after)
        for role in roles:
            roles[role] -= self.idle_rate.get(role, 0.0) * seconds
        role = "envoy" if self.kind == "envoy" else "worker"
        roles[role] = roles.get(role, 0.0) - probes * self.probe_cpu
        self.cpu.append((phase, {role: max(0.0, cpu) for role, cpu in roles.items()}))

    def cds(self, proxy, prober, sampler, add):
        plane = self.bench.plane
        phase = "cds-add" if add else "cds-remove"
        extra_path, stable_path = f"/{plane.extra}/probe", f"/{plane.probe}/probe"
        prober.set_paths([stable_path, extra_path])
        prober.running.set()
        time.sleep(0.3)
        before = sampler.snapshot()
        t_set = time.monotonic()
        plane.set_clusters(with_extra=add)
        t_put = time.monotonic()
        if add:
            served = self.wait_probe(prober, t_set, lambda r: r[2] == extra_path and r[3] == 200,
                                     self.args.timeout, proxy)
            self.record(phase, "first 200 through the new cluster", served - t_set)
            self.record(phase, "  the same, from set()'s return", served - t_put)
        else:
            # by when it began: Envoy 1.40 takes a second to answer 503 to a route whose cluster
            # has gone, hotproxy answers at once
            served = self.wait_probe(prober, t_set, lambda r: r[2] == extra_path and r[3] != 200,
                                     self.args.timeout, proxy, started=True)
            self.record(phase, "first refused request through the removed cluster", served - t_set)
            self.record(phase, "  the same, from set()'s return", served - t_put)
        if self.kind == "hotproxy":
            reloaded, found = proxy.wait_event("reloaded", t_set, self.args.timeout)
            self.record(phase, "'reload N: generation G serving' line", reloaded - t_set)
            self.record(phase, "  the reload's own time (its log line)", float(found.group(3)))
            reloading = proxy.event_times("reloading", t_set, reloaded)
            if reloading:
                self.record(phase, "  set() to the arbiter's 'reloading'", reloading[0] - t_set)
            if proxy.event_times("reload_failed", t_set):
                self.record(phase, "reload failed", 1)
        time.sleep(1.0)             # probes on the stable route across the hand-over's end
        prober.running.clear()
        probes = prober.since(t_set)
        sampler.settle()
        after = sampler.snapshot()
        seconds = time.monotonic() - t_set
        self.record(phase, "  control plane's own set()", t_put - t_set)
        self.record(phase, "longest probe (a worker's stall)", max((r[1] - r[0] for r in probes), default=0.0))
        self.record(phase, "probe errors on the stable route",
                    sum(1 for r in probes if r[2] == stable_path and r[3] != 200))
        self.phase_cpu(phase, before, after, len(probes), seconds)


class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="hotproxy-xds-scale-"))
        self.hits = []
        self.owners = Owners()
        self.upstreams = {side: Upstream(side, self.hits, self.owners) for side in ("A", "B")}
        self.server = XdsServer.start(self.workdir / "xds", state=False)
        self.plane = ControlPlane(self.server, args.clusters, args.endpoints, free_port(), self.upstreams,
                                  args.initial_fetch_timeout)
        self.base_ids = itertools.count(1)

    def close(self):
        self.server.stop()


# --- the report ----------------------------------------------------------------------------------

def summarize(values):
    """'median [min–max]' and whether the spread is large against the median."""
    med = statistics.median(values)
    low, high = min(values), max(values)
    noisy = len(values) > 1 and med > 0 and (high - low) / med > 0.5
    return med, low, high, noisy


def fmt(value, metric):
    if "errors" in metric or metric.startswith("reload failed"):
        return f"{value:.0f}"
    if "(ms)" in metric:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(values, metric):
    if not values:
        return "—"
    med, low, high, noisy = summarize(values)
    text = fmt(med, metric)
    if len(values) > 1:
        text += f" [{fmt(low, metric)}–{fmt(high, metric)}]"
    return text + (" ‡" if noisy else "")


PHASES = ("start", "rest", "idle, per minute", "eds-1", "eds-all", "cds-add", "cds-remove")
#: the figures measured the same way for both proxies, for the ratio column
COMPARABLE = {"first 200 through the probe cluster", "every worker moved", "  the same, from set()'s return",
              "  ACK at the control plane", "first 200 through the new cluster",
              "first refused request through the removed cluster", "CPU per probe request (ms)"}


def timing_table(runs, targets):
    samples = {}
    order = []
    for run in runs:
        for phase, metric, value in run.results:
            key = (phase, metric)
            if key not in order:
                order.append(key)
            samples.setdefault((run.kind, phase, metric), []).append(value)
    order.sort(key=lambda key: PHASES.index(key[0]))
    head = "| phase | figure (seconds unless said) | " + " | ".join(targets)
    lines = [head + (" | hotproxy / Envoy |" if len(targets) == 2 else " |"),
             "|---|---|" + "---|" * (len(targets) + (1 if len(targets) == 2 else 0))]
    for phase, metric in order:
        row = [cell(samples.get((t, phase, metric), []), metric) for t in targets]
        ratio = []
        if len(targets) == 2:
            a, b = (samples.get((t, phase, metric)) for t in targets)
            ratio = ["—"]
            if a and b and metric in COMPARABLE and statistics.median(b) > 0:
                # under 50 ms, Envoy's figure is a few probe spacings: the ratio is rough
                rough = "(ms)" not in metric and statistics.median(b) < 0.05
                ratio = [f"{'~' if rough else ''}{statistics.median(a) / statistics.median(b):.{0 if rough else 1}f}x"]
        lines.append(f"| {phase} | {metric} | " + " | ".join(row + ratio) + " |")
    return "\n".join(lines)


def cpu_table(runs, targets):
    samples, roles_seen = {}, []
    for run in runs:
        for phase, roles in run.cpu:
            for role, seconds in roles.items():
                if role not in roles_seen:
                    roles_seen.append(role)
                samples.setdefault((run.kind, phase, role), []).append(seconds)
    preferred = ["arbiter", "xds", "worker", "flusher", "envoy", "control-plane"]
    roles = [r for r in preferred if r in roles_seen] + [r for r in roles_seen if r not in preferred]
    lines = ["| target | phase | " + " | ".join("workers (all)" if r == "worker" else r for r in roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for target in targets:
        for phase in PHASES:
            row = [cell(samples.get((target, phase, role), []), "cpu") for role in roles]
            if all(c == "—" for c in row):
                continue
            lines.append(f"| {target} | {phase} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def rss_table(runs, targets):
    lines = ["| target | process | RSS MiB after the first generation | at the end |", "|---|---|---|---|"]
    for target in targets:
        mine = [run for run in runs if run.kind == target]
        roles = []
        for run in mine:
            roles += [r for r in run.rss if r not in roles]
        for role in roles:
            def values(attr):
                out = []
                for run in mine:
                    for rss in getattr(run, attr, {}).get(role, []):
                        out.append(rss / 2**20)
                return out
            count = max(len(run.rss.get(role, [])) for run in mine)
            name = role + (f" (each of {count})" if count > 1 else "")
            lines.append(f"| {target} | {name} | {cell(values('rss'), 'rss')} | {cell(values('rss_end'), 'rss')} |")
    return "\n".join(lines)


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, {model}, Linux {platform.release()}, Python {platform.python_version()}; "
            f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10000, help="in all, spread evenly over the clusters")
    parser.add_argument("--reps", type=int, default=3, help="proxy starts per target, interleaved (default 3)")
    parser.add_argument("--updates", type=int, default=2,
                        help="rounds of (eds-1, eds-all) per start (default 2)")
    parser.add_argument("--targets", type=lambda v: v.split(","), default=["hotproxy", "envoy"])
    parser.add_argument("--phases", type=lambda v: v.split(","), default=["eds", "cds"],
                        help="eds always runs; cds: add then remove a cluster")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--probe-threads", type=int, default=2)
    parser.add_argument("--probe-gap", type=float, default=0.01, help="seconds between a client's probes")
    parser.add_argument("--calibrate", type=float, default=2.0, help="seconds of probes at rest, for their CPU")
    parser.add_argument("--idle", type=float, default=20.0,
                        help="seconds without traffic after the start, for the idle CPU (0: skip)")
    parser.add_argument("--initial-fetch-timeout", metavar="DURATION",
                        help="of the RDS and EDS config sources, e.g. 0s (default: unset, 15 s)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds any one wait may take")
    parser.add_argument("--hotproxy-tree", metavar="DIR", help="run the hotproxy of this checkout (PYTHONPATH)")
    parser.add_argument("--quick", action="store_true", help="one rep, one round of updates")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.updates = 1, 1
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    targets = [t for t in args.targets if t != "envoy" or (VENV_BIN / "envoy").exists()]
    bench = Bench(args)
    runs = []
    try:
        for rep in range(args.reps):
            for kind in targets:
                print(f"rep {rep + 1}: {kind}", file=sys.stderr, flush=True)
                run = Run(bench, kind, rep).run()
                runs.append(run)
                for phase, metric, value in run.results:
                    print(f"  {phase:10} {metric:45} {fmt(value, metric)}", file=sys.stderr, flush=True)
    finally:
        bench.close()
    per = max(1, args.endpoints // args.clusters)
    report = [f"Command: `{' '.join(['python bench/xds_scale.py', *argv])}`",
              f"Machine: {machine()}",
              f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.clusters} EDS clusters of {per} "
              f"endpoints ({args.clusters * per} in all), one RDS listener of {args.clusters + 1} routes, ADS "
              f"(state of the world); --concurrency {args.concurrency}; {args.reps} starts per target, "
              f"{args.updates} rounds of EDS updates each; medians [min–max]; ‡: the spread is over half "
              f"the median (noise); ~: a ratio to an Envoy figure under 50 ms, a few probe spacings "
              f"({args.probe_gap * 1000:.0f} ms per client), so rough.",
              "", timing_table(runs, targets),
              "", "CPU seconds (user+system) per phase, by process, less each one's use at rest over the phase and "
              "(workers) the probes' cost; 'idle, per minute' is that use at rest:",
              "", cpu_table(runs, targets),
              "", rss_table(runs, targets),
              "", f"Logs and configs: {bench.workdir}"]
    text = "\n".join(report) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"xds-scale-{datetime.now():%Y%m%d-%H%M%S}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
