"""Counts what issue #23's levers promise to reduce, per proxied request: system calls (strace)
and, in hotproxy, greenlet switches. Counts, not timings: they mean the same on a noisy machine.

The setup is compare.py's: nginx on the load CPU, the proxy (one worker) on the proxy CPU, on
bench/configs/http.yaml. For each target, after a warm-up:
- syscalls: ``strace -f -c`` attached to the worker (Envoy: its process, every thread) while
  wrk runs ``--seconds``, then again over the same time without load; the idle run's rate is
  taken off (heartbeats, timers), and what is left is divided by the requests wrk completed.
  strace slows the traced process many times over: the requests are fewer, the count per request
  is what matters.
- greenlet switches (hotproxy): bench/switch_counter/sitecustomize.py, loaded by the workers
  through PYTHONPATH, counts every switch into a file the script reads before and after a wrk
  run without strace; the idle rate is taken off the same way.

    python bench/count_per_request.py                          # 12 B, c=10, hotproxy and Envoy
    python bench/count_per_request.py --body "64 KiB" --access-log --targets hotproxy
    python bench/count_per_request.py --tree                   # hotproxy's arbiter and flusher too
"""
from __future__ import annotations

import argparse
import signal
import struct
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

from compare import LOAD_CPU, WRK_LUA, Bench, machine
from compare_args import BODY_PATHS
from idle_memory import connection_holders
from strace_summary import parse_strace_summary

HERE = Path(__file__).resolve().parent
SWITCH_COUNTER_DIR = HERE / "switch_counter"
ATTACH_TIMEOUT_S = 20.0


class Counter:
    def __init__(self, args):
        self.args = args
        self.bench = Bench(argparse.Namespace(targets=args.targets, access_log=args.access_log, keep=args.keep,
                                              duration=args.seconds, compression=False, filters=False,
                                              baseline=None))
        self.switch_dir = Path(tempfile.mkdtemp(prefix="hotproxy-switches-"))
        self.lua = self.bench.dir / "report.lua"
        self.lua.write_text(WRK_LUA)

    def run(self):
        nginx_port, nginx_h2_port, _nginx = self.bench.start_nginx()
        env = {"PYTHONPATH": str(SWITCH_COUNTER_DIR), "HOTPROXY_BENCH_SWITCH_DIR": str(self.switch_dir)}
        results = {}
        for target in self.bench.proxies("http.yaml", hotproxy_env=env, upstream=nginx_port,
                                         upstream_h2=nginx_h2_port):
            self.load(target)      # warm-up, not counted
            traced = self.traced_pids(target)
            result = {"syscalls": self.syscalls(target, traced)}
            if target.name != "envoy":
                result["switches"] = self.switches(target, traced)
            results[target.name] = result
        return results

    def traced_pids(self, target):
        if self.args.tree:
            root = psutil.Process(target.pid)
            return [root.pid, *(child.pid for child in root.children(recursive=True))]
        return [process.pid for process in connection_holders(target.pid)]

    def load(self, target):
        """One wrk run; returns the requests it completed and its error count."""
        result = self.bench.wrk(target, BODY_PATHS[self.args.body][0], self.args.conns, self.lua)
        return round(result["rps"] * self.args.seconds), result["errors"]

    # syscalls

    def syscalls(self, target, pids):
        loaded, requests, errors, loaded_s = self.strace_during(pids, lambda: self.load(target))
        idle, _, _, idle_s = self.strace_during(pids, lambda: (time.sleep(self.args.seconds), (0, 0))[1])
        scale = loaded_s / idle_s if idle_s else 0.0
        rows = []
        for name in sorted(set(loaded) | set(idle)):
            calls, failed = loaded.get(name, (0, 0))
            background = idle.get(name, (0, 0))[0] * scale
            per = max(requests, 1)
            rows.append((name, calls / per, max(calls - background, 0) / per, failed / per))
        rows.sort(key=lambda row: (-row[2], row[0]))
        return {"requests": requests, "errors": errors, "rows": rows}

    def strace_during(self, pids, work):
        """strace -f -c on ``pids`` while ``work()`` runs; returns (counts, requests, errors,
        seconds traced). ``work`` returns (requests, errors)."""
        out = self.bench.dir / f"strace-{time.monotonic_ns()}.txt"
        command = ["taskset", "-c", LOAD_CPU, "strace", "-f", "-c", "-o", str(out)]
        for pid in pids:
            command += ["-p", str(pid)]
        strace = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        try:
            self.wait_attached(strace, len(pids))
            started = time.monotonic()
            requests, errors = work()
            traced_s = time.monotonic() - started
        finally:
            strace.send_signal(signal.SIGINT)
            _, stderr = strace.communicate(timeout=60)
        if strace.returncode not in (0, -signal.SIGINT, 128 + signal.SIGINT):
            raise RuntimeError(f"strace failed ({strace.returncode}): {stderr.strip()}")
        return parse_strace_summary(out.read_text()), requests, errors, traced_s

    @staticmethod
    def wait_attached(strace, processes):
        """strace says "Process N attached" (or "... attached with M threads") once per process
        it was given; once every one has come, tracing is on."""
        attached = 0
        deadline = time.monotonic() + ATTACH_TIMEOUT_S
        while attached < processes:
            if time.monotonic() > deadline or strace.poll() is not None:
                raise RuntimeError("strace did not attach (ptrace not permitted here? "
                                   "try as root, or kernel.yama.ptrace_scope=0)")
            line = strace.stderr.readline()
            if " attached" in line:
                attached += 1

    # greenlet switches

    def switch_count(self, pids):
        total = 0
        for pid in pids:
            try:
                total += struct.unpack("<Q", (self.switch_dir / str(pid)).read_bytes()[:8])[0]
            except (OSError, struct.error):
                pass
        return total

    def switches(self, target, pids):
        workers = [pid for pid in pids if (self.switch_dir / str(pid)).exists()]
        if not workers:
            raise RuntimeError("no worker counts its greenlet switches: was bench/switch_counter on its PYTHONPATH?")
        before = self.switch_count(workers)
        started = time.monotonic()
        requests, errors = self.load(target)
        loaded_s = time.monotonic() - started
        loaded = self.switch_count(workers) - before
        before = self.switch_count(workers)
        time.sleep(self.args.seconds)
        idle = (self.switch_count(workers) - before) * loaded_s / self.args.seconds
        return {"requests": requests, "errors": errors, "gross": loaded / max(requests, 1),
                "net": max(loaded - idle, 0) / max(requests, 1), "idle": idle}

    def close(self):
        self.bench.stop_all()
        for path in self.switch_dir.iterdir():
            path.unlink()
        self.switch_dir.rmdir()


def report(results, args):
    names = list(results)
    lines = ["| syscall | " + " | ".join(f"{name} per request" for name in names) + " |",
             "|---|" + "---|" * len(names)]
    per_target = {name: {row[0]: row for row in result["syscalls"]["rows"]} for name, result in results.items()}
    ordered = []
    for name in names:
        ordered += [row[0] for row in results[name]["syscalls"]["rows"] if row[0] not in ordered]
    totals = {name: [0.0, 0.0] for name in names}
    for syscall in ordered:
        cells = []
        for name in names:
            row = per_target[name].get(syscall)
            if row is None:
                cells.append("—")
                continue
            totals[name][0] += row[1]
            totals[name][1] += row[2]
            failing = f", {row[3]:.2f} failing" if row[3] >= 0.005 else ""
            cells.append(f"{row[2]:.2f} ({row[1]:.2f}{failing})")
        if any(per_target[name].get(syscall) and per_target[name][syscall][2] >= 0.005 for name in names):
            lines.append(f"| {syscall} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{net:.2f}** ({gross:.2f})" for gross, net in totals.values())
                 + " |")
    text = ["", "System calls per request, without the idle rate (in brackets: with it, and how many of "
                "them failed, with it too); rows under 0.005 per request left out:", "", *lines, ""]
    for name, result in results.items():
        calls = result["syscalls"]
        text.append(f"- {name}: {calls['requests']} requests traced, {calls['errors']} errors")
        if "switches" in result:
            switches = result["switches"]
            text.append(f"- {name}: **{switches['net']:.2f} greenlet switches per request** ({switches['gross']:.2f} "
                        f"with the idle rate; {switches['requests']} requests, {switches['idle']:.0f} switches "
                        f"idle over the same time, {switches['errors']} errors)")
    return "\n".join(text)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=lambda v: v.split(","), default=["envoy", "hotproxy"])
    parser.add_argument("--body", choices=list(BODY_PATHS), default="12 B")
    parser.add_argument("--conns", type=int, default=10, help="wrk connections (default 10)")
    parser.add_argument("--seconds", type=int, default=3, help="seconds per counted run (default 3)")
    parser.add_argument("--access-log", action="store_true", help="a file access log in the default format")
    parser.add_argument("--tree", action="store_true",
                        help="trace every process of hotproxy's tree (arbiter, flusher), not only the worker")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (configs, logs)")
    parser.add_argument("--out", default=str(HERE / "results"))
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    counter = Counter(args)
    try:
        results = counter.run()
    finally:
        counter.close()
    text = "\n".join([
        f"Command: `{' '.join(['python bench/count_per_request.py', *argv])}`", f"Machine: {machine()}",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; wrk -c{args.conns} for {args.seconds} s on "
        f"{args.body} (bench/configs/http.yaml{', a file access log' if args.access_log else ''}); traced: "
        f"{'every process of the proxy' if args.tree else 'the worker (Envoy: its process)'}.",
        report(results, args)]) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"count-{datetime.now():%Y%m%d-%H%M%S}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
