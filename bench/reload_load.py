"""The reload-under-load point of compare.py: p99 with a reload every second, against without.

What is compared, since Envoy has no in-process reload of a static bootstrap:
- hotproxy: a SIGHUP to the arbiter every second (the config file unchanged: every SIGHUP starts
  a new generation of workers, which take over the listening sockets and the idle keep-alive
  connections while the old generation drains);
- Envoy: a hot restart every second, the way its hot-restarter.py does it: epoch N+1 started
  with ``--restart-epoch N+1`` and the same ``--base-id``, taking the listening sockets from
  epoch N, which drains (``--drain-time-s 2 --parent-shutdown-time-s 5``, as bench/soak_reload.py).
Each target's wrk run with reloads is paired with one without, right before it, in every
repetition; the table gives both p99s and what the reloads added.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import psutil

from idle_memory import connection_holders

RELOAD_EVERY_S = 1.0
SETTLE_TIMEOUT_S = 20.0
ENVOY_DRAIN_ARGS = ("--drain-time-s", "2", "--parent-shutdown-time-s", "5")


class HotproxyReloads:
    """SIGHUP to hotproxy's arbiter; the generation it reached is in its process title."""

    def __init__(self, target, concurrency=1):
        self.target, self.concurrency = target, concurrency
        self.label = f"{target.name} SIGHUP"    # hotproxy and hotproxy-base: a row each

    @property
    def pid(self):
        return self.target.pid

    def reload(self):
        os.kill(self.target.pid, signal.SIGHUP)

    def generation(self):
        title = " ".join(psutil.Process(self.target.pid).cmdline())
        marker = title.rfind("gen ")
        digits = "".join(c for c in title[marker + 4:] if c.isdigit()) if marker >= 0 else ""
        return int(digits) if digits else 0

    def settle(self, generation):
        """Wait until ``generation`` serves alone (the older ones drained), or SETTLE_TIMEOUT_S.
        Reloads asked for while one runs coalesce, so it may never be reached exactly."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.generation() >= generation and len(connection_holders(self.target.pid)) <= self.concurrency:
                return
            time.sleep(0.2)


class EnvoyHotRestarts:
    """Envoy's epochs under one base id; each reload starts the next."""
    label = "envoy hot restart"

    def __init__(self, start, envoy, cpu, config, base_id):
        """``start(argv, cpu, log_name)`` starts a process (compare.Bench.start, which stops it
        at the end of the run)."""
        self.start, self.envoy, self.cpu, self.config, self.base_id = start, envoy, cpu, config, base_id
        self.epoch = -1
        self.epochs = []
        self.start_next()

    @property
    def pid(self):
        return self.epochs[-1].pid

    def start_next(self):
        self.epoch += 1
        argv = [str(self.envoy), "-c", str(self.config), "--concurrency", "1", "-l", "error",
                "--base-id", str(self.base_id), "--restart-epoch", str(self.epoch), *ENVOY_DRAIN_ARGS]
        self.epochs.append(self.start(argv, self.cpu, f"envoy-reload-epoch-{self.epoch}.log"))

    def reload(self):
        self.start_next()

    def generation(self):
        return self.epoch

    def settle(self, _epoch):
        """Wait until the epochs before the newest have exited."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(process.poll() is not None for process in self.epochs[:-1]):
                break
            time.sleep(0.2)
        if self.epochs[-1].poll() is not None:
            raise RuntimeError(f"Envoy's newest epoch {self.epoch} exited (status {self.epochs[-1].returncode}); "
                               "see its log in the bench directory (--keep)")


def under_reloads(reloader, run_load):
    """Run ``run_load()`` while ``reloader.reload()`` is called every second. Returns the load's
    result with ``reloads`` (requested) and ``generations`` (how far the proxy got) added."""
    stop = threading.Event()
    requested = [0]

    def keep_reloading():
        while not stop.wait(RELOAD_EVERY_S):
            reloader.reload()
            requested[0] += 1

    first = reloader.generation()
    thread = threading.Thread(target=keep_reloading, daemon=True)
    thread.start()
    try:
        result = run_load()
    finally:
        stop.set()
        thread.join()
    reloader.settle(first + requested[0])
    return {**result, "reloads": requested[0], "generations": reloader.generation() - first}


def steady(reloader, run_load):
    return {**run_load(), "reloads": 0, "generations": 0}

