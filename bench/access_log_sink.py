"""The worker's access-log sink at a busy worker's rate: ``--lines`` lines logged per flush
interval (1,600 is 16,000 requests a second), a line of the default format's size, the flusher's
end drained by another process. Prints the CPU per line (logging and sending) and the longest
single step, a line's logging or the interval's flush, during which the worker serves nothing.
``--baseline DIR`` measures another checkout the same way (PYTHONPATH), interleaved:

    python bench/access_log_sink.py --baseline /tmp/wt-base --reps 3
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = (b'[2026-12-07T16:00:00.000Z] "GET /v1/12b HTTP/1.1" 200 - 0 12 1 0 "-" "wrk" '
        b'"2b0e8a34-43f6-4a4a-9e4c-0a1d6b6a1c2f" "127.0.0.1:10000" "127.0.0.1:8080"\n')

MEASURE = """
import os, socket, sys, time
from hotproxy.accesslog.sink import AccessLogSink
lines, intervals, line = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
flusher_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
worker_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
flusher_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
drainer = os.fork()
if drainer == 0:            # the flusher's end, drained in a process of its own (no GIL shared)
    worker_end.close()
    os.close(1)
    while True:
        flusher_end.recv(1 << 20)
flusher_end.close()
sink = AccessLogSink(worker_end)
log = sink.logger("/tmp/access.log", lambda info: info)
worst = 0.0
started = None
for interval in range(intervals + 1):
    if interval == 1:       # the first interval starts gevent's hub: not counted
        started, worst = time.perf_counter(), 0.0
    for _ in range(lines):
        step = time.perf_counter()
        log(line)
        worst = max(worst, time.perf_counter() - step)
    step = time.perf_counter()
    sink.flush()
    worst = max(worst, time.perf_counter() - step)
elapsed = time.perf_counter() - started
os.kill(drainer, 9)
print(elapsed / (lines * intervals) * 1e6, worst * 1000)
"""


def measure(checkout, lines, intervals):
    """(µs per line, longest step in ms) for the sink of the checkout at ``checkout``."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    out = subprocess.run([sys.executable, "-c", MEASURE, str(lines), str(intervals), LINE.decode()],
                         env=env, cwd="/", capture_output=True, text=True, check=True)
    per_line, worst = map(float, out.stdout.split())
    return per_line, worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="another checkout to measure the same way")
    parser.add_argument("--lines", type=int, default=1600, help="lines per flush interval")
    parser.add_argument("--intervals", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    trees = [("hotproxy", ROOT)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
    results = {name: [] for name, _ in trees}
    for _ in range(args.reps):
        for name, checkout in trees:
            results[name].append(measure(checkout, args.lines, args.intervals))
    print(f"| tree | µs per line | longest step, ms | ({args.lines} lines an interval, "
          f"{args.reps} repetitions) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        print(f"| {name} | " + " / ".join(f"{per:.2f}" for per, _ in runs) + " | "
              + " / ".join(f"{worst:.2f}" for _, worst in runs) + " | |")


if __name__ == "__main__":
    main()
