"""CPU per SIGHUP reload: what a reload takes from the serving cores, by process.

An idle hotproxy (bench/configs/http.yaml with a file access log, one worker, the whole process
tree pinned to the proxy CPU) is reloaded once to start its zygote, then ``--reloads`` times,
``--gap`` seconds apart. CPU is read from /proc before and after: the arbiter's own, each live
descendant's, and what each has reaped. The workers' figure is the live workers' and the reaped
ones' (the arbiter is their subreaper); the zygote's includes the middle processes of its double
forks, which it reaps. ``--baseline DIR`` measures another checkout the same way, interleaved.

    python bench/reload_cpu.py --baseline /tmp/wt-base --reps 2
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from access_log_config import with_file_access_log
from compare_common import HERE, PROXY_CPU, ROOT, free_port, wait_for_port

KINDS = ("worker", "zygote", "flusher")


def tree_times(arbiter):
    """{kind: CPU seconds} of the arbiter, the zygote, the workers (live and reaped), the flusher."""
    times = arbiter.cpu_times()
    found = {"arbiter": times.user + times.system, "worker": times.children_user + times.children_system}
    for child in arbiter.children(recursive=True):
        try:
            title = " ".join(child.cmdline())
            child_times = child.cpu_times()
        except psutil.Error:
            continue
        kind = next((kind for kind in KINDS if f"hotproxy: {kind}" in title), "other")
        found[kind] = found.get(kind, 0.0) + sum(child_times[:4])   # user, system, and its reaped
    return found


def measure(tree, config, port, reloads, gap, base_id):
    """{kind: ms per reload} for the checkout at ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    argv = ["taskset", "-c", PROXY_CPU, sys.executable, "-m", "hotproxy", "-c", str(config),
            "--concurrency", "1", "-l", "error", "--base-id", str(base_id)]
    process = subprocess.Popen(argv, cwd=tree, env=env)
    try:
        wait_for_port(port)
        arbiter = psutil.Process(process.pid)
        process.send_signal(signal.SIGHUP)      # the first reload starts the zygote
        time.sleep(gap + 1)
        before = tree_times(arbiter)
        for _ in range(reloads):
            process.send_signal(signal.SIGHUP)
            time.sleep(gap)
        after = tree_times(arbiter)
    finally:
        process.terminate()
        process.wait(10)
    kinds = sorted(set(before) | set(after))
    return {kind: (after.get(kind, 0.0) - before.get(kind, 0.0)) * 1000 / reloads for kind in kinds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="another checkout to measure the same way")
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between reloads")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    trees = [("hotproxy", ROOT)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        text = (HERE / "configs" / "http.yaml").read_text()
        text = text.replace("{listen}", str(port)).replace("{upstream}", str(free_port()))
        config = Path(scratch) / "http.yaml"
        config.write_text(with_file_access_log(text, Path(scratch) / "access.log"))
        results = {name: [] for name, _ in trees}
        for rep in range(args.reps):
            for index, (name, tree) in enumerate(trees):
                result = measure(tree, config, port, args.reloads, args.gap, 7100 + rep * 10 + index)
                results[name].append(result)
                print(f"rep {rep + 1} {name:9s} " + "  ".join(f"{kind} {ms:.1f}" for kind, ms in result.items())
                      + f"  total {sum(result.values()):.1f} ms per reload", flush=True)
    print("\n| tree | arbiter | zygote | workers | total |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        cells = [" / ".join(f"{run.get(kind, 0.0):.1f}" for run in runs) for kind in ("arbiter", "zygote", "worker")]
        cells.append(" / ".join(f"{sum(run.values()):.1f}" for run in runs))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nms of CPU per reload, one value per repetition; /proc counts in 10 ms ticks per process.")


if __name__ == "__main__":
    main()
