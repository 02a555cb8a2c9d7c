"""System calls per keep-alive request over TLS in a hotproxy worker, with its TLS data path on and
off (``HOTPROXY_TLS_DATA_PATH``, hotproxy/tls/data_socket.py): counts, not timings, so they mean
the same on a noisy machine. The setup is bench/callgrind_tls.py's (a TLS listener, 10 keep-alive
TLS connections, a loopback upstream); ``strace -f -c`` follows hotproxy's whole tree, and the
difference between a run of ``--requests`` and one of a sixth of them, divided by the difference,
removes the handshakes and most of the idle timers. ``strace -c -f -p`` is attached to the worker
after a warm-up and stopped (SIGINT) when the clients are done.

    python bench/tls_syscalls.py
    python bench/tls_syscalls.py --body-size 65536
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

import callgrind_path as plain
from callgrind_tls import _CHAIN, tls_client
from callgrind_worker import wait_for_port

_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", re.M)


def count(requests, scratch, body_size, data_path):
    """{syscall: calls} for ``requests`` requests (plus start and stop)."""
    listen, up = plain.free_port(), plain.free_port()
    plain.upstream(up, plain.response(body_size))
    config = scratch / "bench.yaml"
    config.write_text(plain.CONFIG.format(listen=listen, upstream=up, filters="", policy=""))
    summary = scratch / f"strace.{requests}.{data_path}.txt"
    env = {**os.environ, "HOTPROXY_TLS_DATA_PATH": data_path}
    proxy = subprocess.Popen([sys.executable, "-m", "hotproxy", "-c", str(config), "--concurrency", "1", "-l", "error",
                              "--base-id", str(os.getpid() % 1000 + 5000 + requests % 997)],
                             env=env, cwd=plain.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(listen)
        tls_client(listen, 200, body_size)
        worker = next(child.pid for child in psutil.Process(proxy.pid).children(recursive=True)
                      if "worker" in " ".join(child.cmdline()))
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", str(summary), "-p", str(worker)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1.0)    # attached
        tls_client(listen, requests, body_size)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(60)
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(120)
    return {name: int(calls) for calls, name in _ROW.findall(summary.read_text()) if name != "total"}


def per_request(requests, scratch, body_size, data_path):
    small = requests // 6
    big, little = count(requests, scratch, body_size, data_path), count(small, scratch, body_size, data_path)
    return {name: (big.get(name, 0) - little.get(name, 0)) / (requests - small) for name in big}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--body-size", type=int, default=12, help="response body bytes (default 12)")
    parser.add_argument("--paths", type=lambda v: v.split(","), default=["gevent", "lean"],
                        help="HOTPROXY_TLS_DATA_PATH values, one column each (default gevent,lean; also bio)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotproxy-tls-syscalls-") as scratch:
        scratch = Path(scratch)
        subprocess.run(["bash", str(plain.ROOT / "deploy/double-proxy/gen-certs.sh"), str(scratch / "certs")],
                       check=True, capture_output=True)
        plain.CONFIG = plain.CONFIG.replace("    - filters:\n", _CHAIN.format(
            chain=scratch / "certs/edge-server.pem", key=scratch / "certs/edge-server.key"), 1)
        rows = {path: per_request(args.requests, scratch, args.body_size, path) for path in args.paths}
    names = sorted({name for row in rows.values() for name, value in row.items() if abs(value) >= 0.05},
                   key=lambda name: -rows[args.paths[0]].get(name, 0))
    print(f"{'syscall':16} " + " ".join(f"{path:>8}" for path in args.paths))
    for name in names:
        print(f"{name:16} " + " ".join(f"{rows[path].get(name, 0):8.2f}" for path in args.paths))
    print(f"{'total':16} " + " ".join(f"{sum(rows[path].values()):8.2f}" for path in args.paths))


if __name__ == "__main__":
    main()
