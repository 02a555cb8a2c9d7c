"""Python bytecodes and calls per proxied request, counted in a hotproxy worker, per code object:
where a request's Python work goes. A request's own code counts the same in every run whatever
the load; only the worker's once-a-second work, divided among the requests, moves the totals
(by about 10 bytecodes a request), so read a change in the per-code-object rows.

callgrind_path.py's set-up (one worker, GETs over one keep-alive connection to an upstream on
loopback, ``--filters`` for cors + local_ratelimit + rbac, ``--access-log`` for a file access log
in the default format); the worker starts with a ``sys.settrace`` opcode counter (a
``sitecustomize`` only the worker loads) and writes its counts when it exits. A run of ``--requests`` minus one of a sixth of them, divided by the
difference, removes start-up and shut-down. Each run takes about a minute (tracing is slow):

    python bench/opcount_path.py --filters --baseline /tmp/base --top 20
    python bench/opcount_path.py --filters-added --top 20    # filtered minus router-only

``--top N`` lists the code objects whose bytecodes per request differ most between the two
columns (this tree and the baseline, or filtered and router-only).
"""
from __future__ import annotations

import argparse
import os
import signal
import site
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import callgrind_path as path
from callgrind_worker import _LIMITS, wait_for_port

COUNTER = """
import atexit, os, sys
counts, out = {}, os.environ.get("HP_OPCOUNT")

def _opcodes(frame, event, arg):
    if event == "opcode":
        counts[frame.f_code] = counts.get(frame.f_code, 0) + 1
    return _opcodes

def _calls(frame, event, arg):
    frame.f_trace_opcodes = True
    key = ("calls", frame.f_code)
    counts[key] = counts.get(key, 0) + 1
    return _opcodes

def _dump():
    sys.settrace(None)
    with open(out, "w") as f:
        for key, n in counts.items():
            kind, code = ("C", key[1]) if isinstance(key, tuple) else ("O", key)
            f.write(f"{kind}\\t{n}\\t{code.co_filename}:{code.co_firstlineno}:{code.co_qualname}\\n")

if out:
    sys.settrace(_calls)
    atexit.register(_dump)
"""


def counts(checkout, requests, scratch, filters, access_log=False) -> Counter:
    """(kind, where) -> how many: "O" bytecodes, "C" calls, of a worker that served ``requests``."""
    out = scratch / f"opcount.{filters:d}.{requests}.tsv"
    out.unlink(missing_ok=True)
    wrapper = scratch / "python"
    wrapper.write_text("#!/bin/sh\n"
                       'case "$*" in *hotproxy.process.worker*) '
                       f'HP_OPCOUNT={out} exec {sys.executable} "$@";; esac\n'
                       f'exec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    (scratch / "sitecustomize.py").write_text(_LIMITS + COUNTER)   # a traced worker starts slowly
    listen, up = path.free_port(), path.free_port()
    path.upstream(up, path.response(12))
    config = scratch / "bench.yaml"
    config.write_text(path.config_text(listen, up, filters, scratch / f"access-{requests}.log" if access_log else None))
    request = path.REQUEST[:-2] + path.ORIGIN + b"\r\n" if filters else path.REQUEST
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), *site.getsitepackages(), str(scratch)])}
    proxy = subprocess.Popen(["bash", "-c", f"exec -a {wrapper} {sys.executable} -m hotproxy -c {config} "
                              f"--concurrency 1 -l error --base-id {os.getpid() % 1000 + 6000}"],
                             env=env, cwd=checkout)
    try:
        wait_for_port(listen, 600)
        path.client(listen, 200, 12, request, 1)
        path.client(listen, requests, 12, request, 1)
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(120)
    for _ in range(300):
        if out.exists() and out.stat().st_size:
            break
        time.sleep(0.2)
    prefix = f"{Path(checkout).resolve()}/"
    result = Counter()
    for line in out.read_text().splitlines():
        kind, n, where = line.split("\t")
        result[kind, where.replace(prefix, "")] += int(n)
    return result


def per_request(checkout, requests, scratch, filters, access_log=False) -> dict:
    small = requests // 6
    many, few = (counts(checkout, requests, scratch, filters, access_log),
                 counts(checkout, small, scratch, filters, access_log))
    return {key: (many[key] - few[key]) / (requests - small) for key in many.keys() | few.keys()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1800)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to measure the same way")
    parser.add_argument("--filters", action="store_true", help="cors, local_ratelimit and rbac (callgrind_path)")
    parser.add_argument("--access-log", action="store_true",
                        help="a file access log in the default format (compare.py --access-log)")
    parser.add_argument("--filters-added", action="store_true",
                        help="this tree filtered minus router-only, instead of the two trees")
    parser.add_argument("--top", type=int, default=0,
                        help="code objects that differ most (with one tree: that cost most)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotproxy-opcount-") as scratch:
        scratch = Path(scratch)
        if args.filters_added:
            columns = {"filtered": per_request(path.ROOT, args.requests, scratch, True, args.access_log),
                       "router": per_request(path.ROOT, args.requests, scratch, False, args.access_log)}
        else:
            trees = [("hotproxy", path.ROOT)] + ([("baseline", Path(args.baseline))] if args.baseline else [])
            columns = {name: per_request(tree, args.requests, scratch, args.filters, args.access_log)
                       for name, tree in trees}
    for name, column in columns.items():
        print(f"{name:10} {sum(v for (k, _), v in column.items() if k == 'O'):10.1f} bytecodes "
              f"{sum(v for (k, _), v in column.items() if k == 'C'):8.1f} calls per request")
    if len(columns) == 2:
        first, second = columns.values()
        rows = sorted(((first.get(key, 0) - second.get(key, 0), key) for key in first.keys() | second.keys()),
                      key=lambda row: -abs(row[0]))
        for kind in "OC":
            print(f"difference {sum(d for d, key in rows if key[0] == kind):+10.1f} "
                  f"{'bytecodes' if kind == 'O' else 'calls'} per request")
        for diff, (kind, where) in [row for row in rows if row[1][0] == "O"][:args.top]:
            print(f"{diff:+8.1f}  {where}")
    else:
        (column,) = columns.values()
        for (kind, where), value in sorted(column.items(), key=lambda item: -item[1]):
            if kind == "O" and args.top > 0:
                print(f"{value:8.1f}  {where}")
                args.top -= 1


if __name__ == "__main__":
    main()
