"""One h2load point against one target: requests per second, latency percentiles from h2load's
per-request log (h2load prints only min/max/mean), and the CPU the target's whole process tree
(every worker; user+system from /proc) spent per request. h2_compare.py and grpc_compare.py
share it."""
from __future__ import annotations

import math
import re
import statistics
import subprocess
from pathlib import Path

from compare_common import LOAD_CPU, tree_cpu_seconds

_COUNTS = re.compile(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
                     r"(\d+) timeout")
_FINISHED = re.compile(r"finished in ([\d.]+)(m?s)")


def percentile(sorted_values, fraction):
    """The nearest-rank percentile of already sorted values (nan for none)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latencies_ms(log_file):
    """The per-request response times in h2load's --log-file (third column, µs), sorted, in ms."""
    values = []
    for line in Path(log_file).read_text().splitlines():
        columns = line.split("\t")
        if len(columns) >= 3 and columns[1].startswith("2"):
            values.append(int(columns[2]) / 1000)
    values.sort()
    return values


def run(target, url, conns, streams, duration, log_file, extra=()):
    """h2load -c ``conns`` -m ``streams`` for ``duration`` seconds over h2c on the load CPU.
    ``target``: a compare_common.Target whose process tree's CPU is charged to its requests;
    ``extra``: more h2load arguments (a body, headers)."""
    log_file = Path(log_file)
    log_file.unlink(missing_ok=True)
    argv = ["taskset", "-c", LOAD_CPU, "h2load", "-c", str(conns), "-m", str(streams), "-D", str(duration),
            "--log-file", str(log_file), *extra, url]
    cpu_before = tree_cpu_seconds(target.pid)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    cpu = tree_cpu_seconds(target.pid) - cpu_before
    counts = _COUNTS.search(out)
    finished = _FINISHED.search(out)
    if counts is None or finished is None:
        raise RuntimeError(f"h2load against {target.name} gave no result:\n{out}")
    succeeded, failed, errored, timeout = (int(x) for x in counts.groups())
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    times = latencies_ms(log_file)
    log_file.unlink(missing_ok=True)
    # a run that completed nothing has no rate either: its stall is reported (stalled_note)
    return {"rps": succeeded / seconds if succeeded else float("nan"), "p50": percentile(times, 0.50), "p99": percentile(times, 0.99),
            "cpu_us": cpu * 1e6 / succeeded if succeeded else float("nan"), "errors": failed + errored + timeout,
            "requests": succeeded}


def median(rows, key):
    """The median of the runs' figures that were measured (a run that completed no request has no
    CPU per request nor percentiles); nan when none was."""
    values = [row[key] for row in rows if row[key] == row[key]]
    return statistics.median(values) if values else float("nan")


def stalled_note(label, rows):
    """A sentence when some runs completed no request at all, else None."""
    stalled = sum(1 for row in rows if not row["requests"])
    return f"{label} completed no request in {stalled} of {len(rows)} runs" if stalled else None


def warm(target, url, requests=200, extra=()):
    """``requests`` requests over 4 connections of 5 streams, waited for (a worker still starting
    holds the first ones: the arbiter listens before its workers are ready); all must succeed."""
    argv = ["taskset", "-c", LOAD_CPU, "h2load", "-n", str(requests), "-c", "4", "-m", "5", *extra, url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    counts = _COUNTS.search(out)
    if counts is None or int(counts.group(1)) != requests:
        raise RuntimeError(f"{target.name} did not answer {requests} requests at {url}:\n{out}")
