"""One hotproxy worker under callgrind: the instructions it executes while a client drives it.

The worker runs under ``valgrind --tool=callgrind`` (a wrapper interpreter starts it so; the
arbiter and flusher run natively). A worker under callgrind on a loaded machine is slower than the
arbiter normally allows to become ready (30 s), to beat (10 s) and to exit and write its counts
(5 s): a ``sitecustomize`` in the scratch directory raises those limits for the bench's arbiter
only. ``per_request`` takes the difference between a long and a short run, which removes start-up
and shut-down. Used by callgrind_path.py (HTTP/1.1), callgrind_h2.py and callgrind_tls.py.
"""
from __future__ import annotations

import os
import re
import signal
import site
import socket
import stat
import subprocess
import sys
import time

_LIMITS = ("try:\n"
           "    import hotproxy.process.reload as reload\n"
           "    reload.READY_TIMEOUT_S = 900.0\n"
           "    import hotproxy.process.supervisor as supervisor\n"
           "    supervisor.HEARTBEAT_TIMEOUT_S = supervisor.STOP_GRACE_S = 900.0\n"
           "except ImportError:\n"
           "    pass\n")


def worker_instructions(checkout, scratch, config_text, listen, drive, tag) -> int:
    """Instructions the worker of a hotproxy from ``checkout`` on ``config_text`` executed (start
    and stop included) while ``drive()`` ran against ``listen``; ``tag`` names the run's files."""
    out = scratch / f"callgrind.{os.getpid()}.{tag}.out"
    for stale in scratch.glob(out.name + "*"):     # a previous tree's run of the same tag
        stale.unlink()
    wrapper = scratch / "python"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *hotproxy.process.worker*) '
        f'exec valgrind --tool=callgrind --callgrind-out-file={out} -q {sys.executable} "$@";; esac\n'
        f'exec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    (scratch / "sitecustomize.py").write_text(_LIMITS)
    config = scratch / f"bench-{tag}.yaml"
    config.write_text(config_text)
    # the wrapper is no venv interpreter: name the venv's packages explicitly
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), *site.getsitepackages(), str(scratch)])}
    base_id = free_base_id(os.getpid() % 1000 + 3000 + sum(map(ord, str(tag))) % 997)
    log = open(scratch / "hotproxy.log", "ab")
    # exec -a makes the wrapper the arbiter's sys.executable, so its workers start through it
    proxy = subprocess.Popen(["bash", "-c", f"exec -a {wrapper} {sys.executable} -m hotproxy -c {config} "
                              f"--concurrency 1 -l error --base-id {base_id}"],
                             env=env, cwd=checkout, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_port(listen, 900)
        except RuntimeError:
            raise RuntimeError((scratch / "hotproxy.log").read_text()[-3000:]) from None
        drive()
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(900)
    return summary(out)


def summary(out) -> int:
    """The instructions counted in ``out`` (waiting for callgrind to write it at exit), plus any
    parts ``out.1``, ``out.2``… that a ``callgrind_control -d`` dumped (and zeroed) mid-run: a
    bare one, from anywhere on the machine, dumps every callgrind process."""
    for _ in range(600):
        if out.exists() and re.search(r"^summary: (\d+)", out.read_text(), re.M):
            break
        time.sleep(0.2)
    return sum(_instructions(part) for part in [out, *out.parent.glob(out.name + ".*")])


def _instructions(part) -> int:
    text = part.read_text()
    found = re.search(r"^totals: (\d+)", text, re.M) or re.search(r"^summary: (\d+)", text, re.M)
    return int(found.group(1))


def per_request(count, requests) -> float:
    """``count(n)``: instructions of a run of ``n`` requests; their cost per request."""
    small = requests // 6
    return (count(requests) - count(small)) / (requests - small)


def free_base_id(first) -> int:
    """The first base id from ``first`` whose hot-restart rendezvous (``@hotproxy.N.0``) nobody
    holds: two benches started at once whose pids agree modulo 1000 would otherwise collide, and
    the second would wait for its port until it timed out."""
    for base_id in range(first, first + 1000):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
            try:
                probe.bind(f"\0hotproxy.{base_id}.0")
                return base_id
            except OSError:
                continue
    raise RuntimeError(f"no free base id from {first}")


def wait_for_port(port, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")
