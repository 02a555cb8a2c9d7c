"""Reload endurance: 1,000 SIGHUPs under light load, each one waited for (the new generation
serves) before the next, recording the open fds and RSS of every hotproxy process at every
100th reload, and every request that failed. Fds and RSS must stay flat: a reload that leaked one
descriptor or a megabyte would show as a slope over a thousand of them.

    python bench/reload_endurance.py                  # 1,000 reloads, about 15 minutes
    python bench/reload_endurance.py --reloads 200 --every 50

Traffic, from clients that never retry (bench/soak_reload.py's): keep-alive clients that pause
between requests, so that reloads land while connections sit idle and must move, and a client
that opens a fresh connection per request.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from soak_reload import (HotproxyTarget, Recorder, Upstream, UpstreamServer, free_port, fresh_client,
                         keep_alive_client, wait_for)

_GENERATION = re.compile(r"gen (\d+)\]")


def generation(arbiter):
    """The generation the arbiter serves, from its process title."""
    match = _GENERATION.search(" ".join(arbiter.cmdline()))
    return int(match.group(1)) if match else 0


def footprint(arbiter):
    """(role, rss bytes, open fds) of the arbiter and each of its children, by process title."""
    rows = []
    for process in [arbiter, *arbiter.children()]:
        try:
            title = " ".join(process.cmdline())
            role = ("arbiter" if process.pid == arbiter.pid else "flusher" if "flusher" in title
                    else "worker" if "worker" in title else title[:30])
            rows.append((role, process.memory_info().rss, process.num_fds()))
        except psutil.Error:
            pass  # a draining generation that exited between the listing and the reading
    return rows


def summary(rows):
    by_role = {}
    for role, rss, fds in rows:
        count, total_rss, total_fds = by_role.get(role, (0, 0, 0))
        by_role[role] = (count + 1, total_rss + rss, total_fds + fds)
    return by_role


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reloads", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100, help="record the footprint every N reloads")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--keep-alive-clients", type=int, default=4)
    parser.add_argument("--max-pause", type=float, default=1.0)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="hotproxy-endurance-"))
    upstream = UpstreamServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    listen = free_port()
    target = HotproxyTarget(workdir, listen, upstream.server_address[1], args)
    recorder, stop = Recorder(), threading.Event()
    records = []
    try:
        wait_for(listen)
        arbiter = target.arbiter()
        threads = [threading.Thread(target=keep_alive_client, args=(listen, recorder, stop, args.max_pause))
                   for _ in range(args.keep_alive_clients)]
        threads.append(threading.Thread(target=fresh_client, args=(listen, recorder, stop)))
        for thread in threads:
            thread.start()
        time.sleep(1)
        records.append((0, footprint(arbiter)))
        started = time.monotonic()
        for number in range(1, args.reloads + 1):
            before = generation(arbiter)
            target.reload(number)
            deadline = time.monotonic() + 30
            while generation(arbiter) <= before:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"reload {number} did not take: see {workdir}/hotproxy.log")
                time.sleep(0.02)
            if number % args.every == 0:
                time.sleep(args.max_pause + 0.5)  # idle connections have moved, drained generations left
                records.append((number, footprint(arbiter)))
                print(f"  reload {number}: {len(records[-1][1])} processes", flush=True)
        elapsed = time.monotonic() - started
        stop.set()
        for thread in threads:
            thread.join(30)
    finally:
        stop.set()
        target.stop()
        upstream.shutdown()

    outcomes = Counter((kind, ok) for _t, kind, ok, _latency, _error in recorder.events)
    errors = Counter(error[:100] for *_rest, error in recorder.events if error)
    print(f"{args.reloads} reloads in {elapsed:.0f} s, {args.concurrency} workers")
    for kind in ("keep-alive", "fresh"):
        print(f"  {kind:10} ok {outcomes[(kind, True)]:7}   failed {outcomes[(kind, False)]:5}")
    for error, count in errors.most_common(5):
        print(f"    {count} x {error}")
    print("\n| reload | processes | arbiter RSS MiB / fds | flusher RSS MiB / fds | workers RSS MiB / fds (all) |")
    print("|---|---|---|---|---|")
    for number, rows in records:
        roles = summary(rows)

        def cell(role):
            count, rss, fds = roles.get(role, (0, 0, 0))
            return f"{rss / 2**20:.1f} / {fds}" + (f" ({count})" if role == "worker" else "")
        print(f"| {number} | {len(rows)} | {cell('arbiter')} | {cell('flusher')} | {cell('worker')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
