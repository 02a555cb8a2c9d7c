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
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from xds_control import XdsServer  # noqa: E402
from xds_scale_procs import CpuSampler, Owners, Prober, Upstream, free_port, role_of, rss_bytes  # noqa: E402
from xds_scale_tables import cpu_table, fmt, machine, rss_table, timing_table  # noqa: E402
from xds_scale_targets import VENV_BIN, ControlPlane, Proxy  # noqa: E402


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
