"""CPU per second of an idle proxy: what a sidecar or a VM proxy burns while nothing comes in.

Each target runs bench/configs/http.yaml with one worker and no connection at all; after a
settling pause its whole process tree's CPU time is read from ``/proc/PID/task/*/schedstat``
(nanoseconds, every thread) twice, ``--seconds`` apart. hotproxy is also shown by process
(arbiter, worker, flusher). ``--baseline DIR`` measures another checkout the same way; the
targets run one after the other, interleaved over ``--reps``. ``--idle-conns N`` first opens N
client connections that make one keep-alive request each (the config's direct /healthz) and
then stay open and idle, as a sidecar's pooled connections do:

    python bench/idle_cpu.py --baseline /tmp/wt-base --reps 2
    python bench/idle_cpu.py --idle-conns 5000 --reps 2
    python bench/idle_cpu.py --idle-conns 2000 --h2 --reps 2    # h2c, as a gRPC client's
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from compare_common import HERE, ROOT, free_port, wait_for_port
from idle_memory import keepalive_request, open_files_needed, raise_open_files_limit

VENV_BIN = Path(sys.executable).parent
SETTLE_S = 3.0


def cpu_ms(pid):
    """Milliseconds on CPU of every thread of process ``pid`` (0 once it is gone)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total / 1e6


def tree(pid):
    """{name: pid} of the process and its descendants, named by their titles."""
    root = psutil.Process(pid)
    found = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        found[title.split("[")[0].strip()[:32] or process.name()] = process.pid
    return found


def hold_idle(port, count, http2=False):
    """``count`` connections, each after one keep-alive request that was answered 200 (over
    h2c with prior knowledge with ``http2``)."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        held.append(sock)
        status = h2c_request(sock, "/healthz") if http2 else keepalive_request(sock, "/healthz")
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}")
    return held


def h2c_request(sock, path):
    """One GET on a new h2c connection (prior knowledge), read to its end; returns the status."""
    from jh2 import events
    from jh2.config import H2Configuration
    from jh2.connection import H2Connection
    client = H2Connection(H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "http"),
                            (":authority", "bench")], end_stream=True)
    sock.sendall(client.data_to_send())
    status = None
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response ended")
        for event in client.receive_data(data):
            if isinstance(event, events.ResponseReceived):
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, events.StreamEnded):
                sock.sendall(client.data_to_send())
                return status


def measure(argv, env, port, seconds, cwd, idle_conns=0, http2=False):
    """{process name: ms of CPU per second idle}. ``cwd``: not a checkout's root, whose package
    ``python -m`` would import ahead of PYTHONPATH's."""
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    held = []
    try:
        wait_for_port(port)
        held = hold_idle(port, idle_conns, http2)
        time.sleep(SETTLE_S)
        pids = tree(process.pid)
        before = {name: cpu_ms(pid) for name, pid in pids.items()}
        time.sleep(seconds)
        return {name: (cpu_ms(pid) - before[name]) / seconds for name, pid in pids.items()}
    finally:
        for sock in held:
            sock.close()
        process.terminate()
        process.wait(10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="another checkout to measure the same way")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--no-envoy", action="store_true")
    parser.add_argument("--idle-conns", type=int, default=0, help="idle keep-alive connections held")
    parser.add_argument("--h2", action="store_true", help="the idle connections speak h2c")
    args = parser.parse_args()
    if args.idle_conns:
        raise_open_files_limit(open_files_needed(args.idle_conns))
    targets = [] if args.no_envoy else [("envoy", None)]
    targets += [("hotproxy", ROOT)] + ([("hotproxy-base", Path(args.baseline).resolve())]
                                       if args.baseline else [])
    results = {name: [] for name, _ in targets}
    with tempfile.TemporaryDirectory() as scratch:
        for rep in range(args.reps):
            for index, (name, checkout) in enumerate(targets):
                port = free_port()
                text = (HERE / "configs" / "http.yaml").read_text()
                config = Path(scratch) / f"{name}.yaml"
                config.write_text(text.replace("{listen}", str(port)).replace("{upstream}", str(free_port())))
                common = ["-c", str(config), "--concurrency", "1", "-l", "error",
                          "--base-id", str(7300 + rep * 10 + index)]
                if checkout is None:
                    argv, env = [str(VENV_BIN / "envoy"), *common], None
                else:
                    argv = [sys.executable, "-m", "hotproxy", *common]
                    env = dict(os.environ, PYTHONPATH=str(checkout))
                result = measure(argv, env, port, args.seconds, scratch, args.idle_conns, args.h2)
                results[name].append(result)
                parts = "  ".join(f"{process}: {ms:.2f}" for process, ms in result.items())
                print(f"rep {rep + 1} {name:13s} {sum(result.values()):6.2f} ms/s  ({parts})", flush=True)
    print("\n| target | ms of CPU per second idle, each repetition |")
    print("|---|---|")
    for name, runs in results.items():
        print(f"| {name} | " + " / ".join(f"{sum(run.values()):.2f}" for run in runs) + " |")


if __name__ == "__main__":
    main()
