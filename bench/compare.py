"""Side-by-side benchmark: wrk → {nginx directly, Envoy → nginx, hotproxy → nginx}, plus a TCP bulk
transfer through both proxies. One run, interleaved repetitions, medians; `make bench` runs it.

The proxy under test is pinned to CPU 0; nginx, wrk and the TCP source/sink to CPU 1. Envoy and
hotproxy run the same config file (bench/configs/http.yaml, bench/configs/tcp.yaml, with the ports
filled in). CPU per request is the proxy's whole process tree's user+system time (from /proc, via
psutil) over a wrk run, divided by the requests wrk completed.

    python bench/compare.py                  # full run (~20 min)
    python bench/compare.py --quick          # 3 s points, one repetition

Two more hotproxy targets measure the cost of stats: ``hotproxy-scraped`` is hotproxy with an
admin listener that a scraper (on the load CPU) reads /stats/prometheus from every 100 ms, the
arbiter's work counted in the CPU per request; ``hotproxy-base`` runs the hotproxy of another
checkout (``--baseline DIR``, e.g. a ``git worktree`` of the commit before a change).

    python bench/compare.py --targets envoy,hotproxy,hotproxy-scraped,hotproxy-base --baseline /tmp/base

``--filters`` runs them on bench/configs/http-filters.yaml (cors, local_ratelimit and rbac).
``--h2-upstream`` has the proxies speak HTTP/2 (h2c) to nginx (bench/configs/http-h2-upstream.yaml).
``--h2`` loads them with h2load over h2c instead of wrk (``--conns`` connections of ``--streams``
streams each; bench-deps installs nghttp2-client):

    python bench/compare.py --h2 --conns 10 --streams 5 --targets envoy,hotproxy --no-tcp
``--compression`` runs the proxies on bench/configs/http-compression.yaml (the compressor filter,
gzip), wrk sends ``Accept-Encoding: gzip``, and the 64 KiB body is text that compresses about 2:1
(the usual 64 KiB body is random bytes); ``direct`` is then nginx's uncompressed answer.

    python bench/compare.py --compression --bodies "64 KiB" --no-tcp

Issue #23's points. Every HTTP point runs at 12 B, 64 KiB and 1 MiB (``--bodies``). ``--access-log``
gives both proxies a file access log in its default format on every HTTP connection manager (the
issue's "every default on"). ``--points`` picks what runs (default: all of them):
- ``http``, ``tcp``: the tables above;
- ``memory``: a fresh proxy per repetition, warmed, then ``--idle-conns`` (5,000) keep-alive
  connections that made one request each and stay idle: RSS per worker before them, and the RSS
  they added divided by their number (bench/idle_memory.py);
- ``reload``: wrk at ``--reload-conns`` (50) with a reload every second against the same without:
  hotproxy's SIGHUP, Envoy's hot restart (a new epoch per second, as its hot-restarter does;
  Envoy has no in-process reload of a static config), bench/reload_load.py.

    python bench/compare.py --access-log --points http --conns 50,200
    python bench/compare.py --points memory,reload --targets envoy,hotproxy
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from access_log_config import with_file_access_log
from compare_args import BODY_PATHS, describe, parse_args
from compare_common import (HERE, LOAD_CPU, NGINX_CONF, PROXY_CPU, ROOT, VENV_BIN, WRK_LUA,  # noqa: F401
                            Target, free_port, http_get, tree_cpu_seconds, wait_for_port)
from compare_points import MemoryAndReloadPoints
from compare_tables import HOTPROXY_TARGETS, result_sections
from spread import median  # noqa: F401 (tls_compare.py imports it, and the above, from here)

SCRAPER = """
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/stats/prometheus"
while True:
    urllib.request.urlopen(url).read()
    time.sleep(0.1)
"""


class Bench(MemoryAndReloadPoints):
    def __init__(self, args):
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="hotproxy-bench-"))
        self.dir.chmod(0o755)  # nginx workers run unprivileged and must read 64k.bin
        self.processes = []
        self.notes = []

    def start(self, argv, cpu, log_name, env=None):
        log = open(self.dir / log_name, "wb")
        process = subprocess.Popen(["taskset", "-c", cpu, *argv], stdout=log, stderr=subprocess.STDOUT,
                                   cwd=ROOT if env is None else self.dir, env=env)
        self.processes.append(process)
        return process

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop_since(self, started):
        """Stop the processes started since ``len(self.processes)`` was ``started``."""
        for process in self.processes[started:]:
            if process.poll() is None:
                self.stop(process)

    def stop(self, process):
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def render(self, template, target="", **ports):
        """The config for one target: its own file, since a hotproxy reload re-reads it."""
        text = (HERE / "configs" / template).read_text()
        for name, port in ports.items():
            text = text.replace("{" + name + "}", str(port))
        path = self.dir / (f"{target}-{template}" if target else template)
        copy = 1
        while target and path.exists():     # a target started again (memory point): a file of its own
            copy += 1
            path = self.dir / f"{target}-{copy}-{template}"
        if getattr(self.args, "access_log", False) and template.startswith("http"):
            text = with_file_access_log(text, self.dir / f"access-{path.stem}.log")
        path.write_text(text)
        return path

    def start_nginx(self):
        """nginx on the load CPU, serving every body; returns (its port, its h2c port, process)."""
        (self.dir / "64k.bin").write_bytes(os.urandom(65536))
        (self.dir / "64k.txt").write_bytes(os.urandom(32768).hex().encode())
        (self.dir / "1m.bin").write_bytes(os.urandom(2**20))
        (self.dir / "1m.txt").write_bytes(os.urandom(2**19).hex().encode())
        nginx_port, nginx_h2_port = free_port(), free_port()
        (self.dir / "nginx.conf").write_text(NGINX_CONF.format(dir=self.dir, port=nginx_port,
                                                               h2_port=nginx_h2_port))
        nginx = self.start(["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)], LOAD_CPU, "nginx.log")
        wait_for_port(nginx_port)
        return nginx_port, nginx_h2_port, nginx

    def base_id(self):
        # every proxy its own hot-restart rendezvous: two on one base id collide
        return os.getpid() % 10000 + len(self.processes) * 10000

    def proxies(self, config_template, names=None, hotproxy_env=None, **ports):
        """Start Envoy and hotproxy on the same config; returns the targets that came up.
        ``names``: the targets to start (default: those of --targets); ``hotproxy_env``: more
        environment for hotproxy (PYTHONPATH is prepended to, not replaced)."""
        targets = []
        envoy = VENV_BIN / "envoy"
        hotproxy = VENV_BIN / "hotproxy"
        for name in ("envoy", *HOTPROXY_TARGETS):
            if name not in (self.args.targets if names is None else names):
                continue
            binary = envoy if name == "envoy" else hotproxy
            if not binary.exists():
                self.notes.append(f"{name}: skipped ({binary} is not installed)")
                continue
            if name == "hotproxy-base" and not self.args.baseline:
                self.notes.append("hotproxy-base: skipped (no --baseline checkout given)")
                continue
            port = free_port()
            admin_port = free_port() if name == "hotproxy-scraped" else None
            config = self.render(config_template, name, listen=port, **ports)
            if admin_port:
                config.write_text(config.read_text() + "admin:\n  address:\n    socket_address: "
                                  f"{{ address: 127.0.0.1, port_value: {admin_port} }}\n")
            env = dict(hotproxy_env or {})
            common = ["-c", str(config), "--concurrency", "1", "-l", "error", "--base-id", str(self.base_id())]
            if name == "envoy":
                argv = [str(envoy), *common]
            elif name == "hotproxy-base":
                # the workers are started as `python -m hotproxy.process.worker`: PYTHONPATH makes
                # them the baseline's too
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"),
                                                                  str(Path(self.args.baseline).resolve())]))
                argv = [sys.executable, "-m", "hotproxy", *common]
            else:
                argv = [str(hotproxy), *common]
            env = {**os.environ, **env} if env and name != "envoy" else None
            process = self.start(argv, PROXY_CPU, f"{name}-{config_template}.log", env)
            wait_for_port(port)
            targets.append(Target(name, port, process.pid, admin_port))
        return targets

    # HTTP

    def http_config(self):
        if self.args.filters:
            return "http-filters.yaml"
        if self.args.h2_upstream:
            return "http-h2-upstream.yaml"
        return "http-compression.yaml" if self.args.compression else "http.yaml"

    def run_http(self, nginx_port, nginx_h2_port, nginx):
        config = self.http_config()
        paths = {body: BODY_PATHS[body][1 if self.args.compression else 0] for body in self.args.bodies}
        targets = []
        if "direct" in self.args.targets and not self.args.h2:  # nginx-light serves no h2c here
            targets.append(Target("direct", nginx_port, nginx.pid))
        started = len(self.processes)   # the proxies stop when done: later points run on a quiet CPU
        targets += self.proxies(config, upstream=nginx_port, upstream_h2=nginx_h2_port)
        lua = self.dir / "report.lua"
        try:
            return self.http_samples(targets, paths, lua)
        finally:
            self.stop_since(started)

    def http_samples(self, targets, paths, lua):
        for target in targets:
            for path in paths.values():
                status = http_get(target.port, path)
                if status != 200:
                    raise RuntimeError(f"{target.name}{path} answered {status}, not 200")
        samples = {}
        for rep in range(self.args.reps):
            for conns in self.args.conns:
                for body, path in paths.items():
                    for target in targets:
                        result = (self.h2load(target, path, conns) if self.args.h2
                                  else self.wrk(target, path, conns, lua))
                        samples.setdefault((body, conns, target.name), []).append(result)
                        print(f"  rep {rep + 1} {body:>6} c={conns:<3} {target.name:8} "
                              f"{result['rps']:9.0f} rps  p99 {result['p99']:6.2f} ms  "
                              f"{result['cpu_us']:6.1f} us/req", file=sys.stderr)
        return samples

    def h2load(self, target, path, conns):
        """h2load's figures for one point: ``conns`` h2c connections with ``--streams`` streams
        each. h2load reports no percentiles: p50 is its mean, p99 is not measured (nan)."""
        cpu_before = tree_cpu_seconds(target.pid)
        out = subprocess.run(["taskset", "-c", LOAD_CPU, "h2load", "-c", str(conns), "-m", str(self.args.streams),
                              "-D", str(self.args.duration), f"http://127.0.0.1:{target.port}{path}"],
                             capture_output=True, text=True, timeout=self.args.duration + 60).stdout
        cpu_after = tree_cpu_seconds(target.pid)
        counts = next(l for l in out.splitlines() if l.startswith("requests:")).split()
        succeeded = int(counts[counts.index("succeeded,") - 1])
        errors = sum(int(counts[counts.index(word) - 1]) for word in ("failed,", "errored,", "timeout"))
        timing = next(l for l in out.splitlines() if l.startswith("time for request:")).split()[3:]
        mean = timing[2]
        mean_ms = float(mean[:-2]) / 1000 if mean.endswith("us") else float(mean[:-2])
        return {"rps": succeeded / self.args.duration, "p50": mean_ms, "p99": float("nan"),
                "cpu_us": (cpu_after - cpu_before) * 1e6 / max(succeeded, 1), "errors": errors}

    def wrk(self, target, path, conns, lua):
        scraper = None
        if target.admin_port:
            scraper = subprocess.Popen(["taskset", "-c", LOAD_CPU, sys.executable, "-c", SCRAPER,
                                        str(target.admin_port)])
        cpu_before = tree_cpu_seconds(target.pid)
        try:
            headers = ["-H", "Accept-Encoding: gzip"] if self.args.compression else []
            if self.args.filters:
                headers += ["-H", "Origin: http://bench.example.com"]
            run = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{self.args.duration}s",
                                  *headers, "-s", str(lua), f"http://127.0.0.1:{target.port}{path}"],
                                 capture_output=True, text=True, timeout=self.args.duration + 60)
            out = run.stdout
            cpu_after = tree_cpu_seconds(target.pid)
        finally:
            if scraper is not None:
                scraper.kill()
                scraper.wait()
        line = next((l for l in out.splitlines() if l.startswith("RESULT")), None)
        if line is None:
            raise RuntimeError(f"wrk against {target.name}{path} reported nothing (exit {run.returncode}): "
                               f"{(run.stderr or out)[-500:]}")
        requests, p50, p99, errors = (int(x) for x in line.split()[1:])
        return {"rps": requests / self.args.duration, "p50": p50 / 1000, "p99": p99 / 1000,
                "cpu_us": (cpu_after - cpu_before) * 1e6 / max(requests, 1), "errors": errors}

    # TCP

    def run_tcp(self):
        started = len(self.processes)
        try:
            return self.tcp_samples()
        finally:
            self.stop_since(started)

    def tcp_samples(self):
        sink_port = free_port()
        sink = self.start([sys.executable, str(HERE / "tcp_bulk.py"), "sink", str(sink_port)], LOAD_CPU, "sink.log")
        wait_for_port(sink_port)
        targets = [Target("direct", sink_port, sink.pid)] if "direct" in self.args.targets else []
        targets += self.proxies("tcp.yaml", upstream=sink_port)
        samples = {}
        for _ in range(self.args.reps):
            for target in targets:
                before = tree_cpu_seconds(target.pid)
                out = subprocess.run(["taskset", "-c", LOAD_CPU, sys.executable, str(HERE / "tcp_bulk.py"), "source",
                                      str(target.port), str(self.args.tcp_seconds)],
                                     capture_output=True, text=True, timeout=self.args.tcp_seconds + 30).stdout
                moved = int(out.split()[0])
                seconds = float(out.split()[1])
                cpu = tree_cpu_seconds(target.pid) - before
                samples.setdefault(target.name, []).append(
                    {"mbps": moved / seconds / 1e6, "cpu_s_per_gb": cpu / (moved / 1e9)})
                print(f"  tcp {target.name:8} {moved / seconds / 1e6:8.0f} MB/s", file=sys.stderr)
        return samples


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{os.cpu_count()} cores, {model}, Linux {platform.release()}, Python {platform.python_version()}"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv, __doc__)
    command = "python bench/compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    bench = Bench(args)
    http = tcp = memory = reloads = None
    failure = None
    try:
        nginx_port, nginx_h2_port, nginx = bench.start_nginx()
        lua = bench.dir / "report.lua"
        lua.write_text(WRK_LUA)
        if "http" in args.points:
            http = bench.run_http(nginx_port, nginx_h2_port, nginx)
        if "tcp" in args.points:
            tcp = bench.run_tcp()
        if "memory" in args.points:
            memory = bench.run_memory(nginx_port, nginx_h2_port)
        if "reload" in args.points:
            reloads = bench.run_reload(nginx_port, nginx_h2_port, lua)
    except Exception as exc:   # a point that fails does not lose the tables of those before it
        failure = exc
        bench.notes.append(f"stopped early: {type(exc).__name__}: {exc}")
    finally:
        bench.stop_all()
    report = [f"Command: `{command.strip()}`", f"Machine: {machine()}",
              f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.reps} interleaved repetitions of "
              f"{args.duration} s per point, medians; proxy on CPU {PROXY_CPU}, wrk and nginx on CPU {LOAD_CPU}.",
              *describe(args)]
    sections, moved = result_sections(args, http, tcp, memory, reloads)
    report += sections
    report += [f"- {note}" for note in moved + bench.notes]
    text = "\n".join(report) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{datetime.now():%Y%m%d-%H%M%S}.md").write_text(text)
    if failure is not None:
        raise failure


if __name__ == "__main__":
    main()
