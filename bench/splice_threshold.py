"""Where splicing a body pays (http/router/spliced_body.py's SPLICE_MIN): the CPU time one
thread spends moving a body of N bytes from one loopback TCP socket to another, through a
reusable user-space buffer (recv_into + send, the relay's way without splicing) against
socket -> pipe -> socket with splice(2) (network/splice.py's pipe, 256 KiB).

Only the relaying thread's CPU time is counted (time.thread_time: user and kernel): a feeder
thread writes each body, a sink thread reads it. The two ways alternate body by body, so the
machine's noise hits both alike; medians of rounds are reported.

    python bench/splice_threshold.py                      # 1 KiB to 1 MiB
    python bench/splice_threshold.py --sizes 16384,65536 --rounds 9
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hotproxy.network.splice import PIPE_SIZE, Pipe  # noqa: E402

_MOVE = getattr(os, "SPLICE_F_MOVE", 1)


def _pair():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


def _copy(src, dst, size, view):
    left = size
    while left:
        got = src.recv_into(view, min(left, len(view)))
        dst.sendall(view[:got])
        left -= got


def _splice(src, dst, size, pipe):
    left = size
    src_fd, dst_fd = src.fileno(), dst.fileno()
    while left:
        got = os.splice(src_fd, pipe.write_fd, min(left, pipe.size), flags=_MOVE)
        held = got
        while held:
            held -= os.splice(pipe.read_fd, dst_fd, held, flags=_MOVE)
        left -= got


def measure(size, bodies, rounds):
    feed, src = _pair()
    dst, sink = _pair()
    payload = os.urandom(size)
    view = memoryview(bytearray(256 * 1024))
    pipe = Pipe(PIPE_SIZE)
    go = threading.Semaphore(0)

    def feeder():
        for _ in range(bodies * 2 * rounds):
            go.acquire()
            feed.sendall(payload)

    def drain():
        buffer = bytearray(1 << 20)
        left = size * bodies * 2 * rounds
        while left:
            left -= sink.recv_into(buffer)

    threads = [threading.Thread(target=feeder, daemon=True), threading.Thread(target=drain, daemon=True)]
    for thread in threads:
        thread.start()
    results = {"copy": [], "splice": []}
    for _ in range(rounds):
        spent = {"copy": 0.0, "splice": 0.0}
        for _ in range(bodies):
            for way in ("copy", "splice"):
                go.release()
                start = time.thread_time()
                if way == "copy":
                    _copy(src, dst, size, view)
                else:
                    _splice(src, dst, size, pipe)
                spent[way] += time.thread_time() - start
        for way, seconds in spent.items():
            results[way].append(seconds * 1e6 / bodies)
    for thread in threads:
        thread.join(10)
    for sock in (feed, src, dst, sink):
        sock.close()
    pipe.close()
    return {way: statistics.median(values) for way, values in results.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1024,4096,16384,32768,65536,262144,1048576")
    parser.add_argument("--bodies", type=int, default=200, help="bodies per way and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print("| body | recv_into + send µs | splice µs | splice / copy |")
    print("|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        bodies = max(10, args.bodies * 65536 // max(size, 65536)) if size > 65536 else args.bodies
        result = measure(size, bodies, args.rounds)
        print(f"| {size} | {result['copy']:.1f} | {result['splice']:.1f} | {result['splice'] / result['copy']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
