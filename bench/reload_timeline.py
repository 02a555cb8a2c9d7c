"""Request latency around each SIGHUP reload, in 10 ms bins: when a reload's p99 is made.

hotproxy (bench/configs/http.yaml, one worker) runs on the proxy CPU; nginx and a gevent client
run on the load CPU. The client keeps ``--conns`` keep-alive connections, each sending a request,
reading the response and pausing ``--pause`` seconds (so the proxy is not saturated and a stall
shows as one), and records each request's send time and latency. After ``--reloads`` SIGHUPs one
second apart it prints p99 away from the reloads and, for each reload, the worst latency of the
requests sent in each 10 ms bin from 20 ms before the SIGHUP to 400 ms after ("." where no request
was sent: every connection was waiting for a response).

``--burn MS`` sends no SIGHUP: instead a process burns MS ms of CPU on the proxy CPU at each of
those times, to compare a reload with plain CPU contention of a known size.

    python bench/reload_timeline.py [--tree DIR] [--access-log] [--burn 50]
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

from access_log_config import with_file_access_log  # noqa: E402
from compare_common import HERE, LOAD_CPU, NGINX_CONF, PROXY_CPU, ROOT, free_port, wait_for_port  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
BURN = "import time\nstart = time.process_time()\nwhile time.process_time() - start < {seconds}:\n    pass\n"
BODY = b"hello world\n"


def client(port, pause, records, running):
    sock = socket.create_connection(("127.0.0.1", port))
    while running[0]:
        sent = time.monotonic()
        sock.sendall(REQUEST)
        received = b""
        while not received.endswith(BODY):
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the proxy closed a keep-alive connection")
            received += data
        records.append((sent, time.monotonic() - sent))
        gevent.sleep(pause)


def start(argv, cpu, **kwargs):
    return subprocess.Popen(["taskset", "-c", cpu, *argv], **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(ROOT), help="the hotproxy checkout to run")
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.012)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--burn", type=float, metavar="MS", help="burn MS ms of CPU instead of each reload")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    with tempfile.TemporaryDirectory() as scratch:
        listen, upstream, h2 = free_port(), free_port(), free_port()
        Path(scratch, "nginx.conf").write_text(NGINX_CONF.format(dir=scratch, port=upstream, h2_port=h2))
        text = (HERE / "configs" / "http.yaml").read_text()
        text = text.replace("{listen}", str(listen)).replace("{upstream}", str(upstream))
        if args.access_log:
            text = with_file_access_log(text, Path(scratch) / "access.log")
        config = Path(scratch, "http.yaml")
        config.write_text(text)
        nginx = start(["nginx", "-c", f"{scratch}/nginx.conf", "-p", scratch], LOAD_CPU)
        proxy = start([sys.executable, "-m", "hotproxy", "-c", str(config), "--concurrency", "1", "-l", "error",
                       "--base-id", str(os.getpid() % 1000 + 7300)], PROXY_CPU, cwd=args.tree,
                      env=dict(os.environ, PYTHONPATH=args.tree))
        try:
            wait_for_port(upstream)
            wait_for_port(listen)
            proxy.send_signal(signal.SIGHUP)    # the first reload starts the zygote
            time.sleep(2)
            records, running = [], [True]
            clients = [gevent.spawn(client, listen, args.pause, records, running) for _ in range(args.conns)]
            gevent.sleep(1)
            reloads = []
            for _ in range(args.reloads):
                gevent.sleep(0.9)
                reloads.append(time.monotonic())
                if args.burn:
                    start([sys.executable, "-c", BURN.format(seconds=args.burn / 1000)], PROXY_CPU)
                else:
                    proxy.send_signal(signal.SIGHUP)
                gevent.sleep(0.1)
            gevent.sleep(1)
            running[0] = False
            gevent.joinall(clients, timeout=2, raise_error=True)
        finally:
            proxy.terminate()
            nginx.terminate()
            proxy.wait(10)
            nginx.wait(10)
    report(records, reloads)


def report(records, reloads):
    def p99(latencies):
        ordered = sorted(latencies)
        return ordered[int(len(ordered) * 0.99)] * 1000

    away = [latency for sent, latency in records
            if not any(at - 0.05 < sent < at + 0.6 for at in reloads)]
    print(f"{len(records)} requests; p99 {p99(latency for _, latency in records):.2f} ms, "
          f"away from reloads {p99(away):.2f} ms")
    print("worst latency (ms) of the requests sent in each 10 ms bin, from 20 ms before each SIGHUP:")
    for at in reloads:
        cells = []
        for first in range(-2, 40):
            latencies = [latency for sent, latency in records if at + first * 0.01 <= sent < at + (first + 1) * 0.01]
            cells.append(f"{max(latencies) * 1000:3.0f}" if latencies else "  .")
        print(" ".join(cells))


if __name__ == "__main__":
    main()
