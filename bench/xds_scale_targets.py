"""bench/xds_scale.py's two sides: the control plane's state as the management server serves it, and a proxy
(hotproxy or Envoy 1.40) started on it."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from xds_configs import ads_bootstrap, assignment, eds_cluster, rds_listener  # noqa: E402

VENV_BIN = Path(sys.executable).parent

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
