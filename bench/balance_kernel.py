"""What the kernel wakes when N gevent processes accept on one port, without a proxy (issue #23):
the accept spread and the wasted wakeups per worker, for three ways to share the port.

- ``shared``: one listening socket in every worker's loop (hotproxy today). A connection wakes
  every worker's epoll; each calls accept() and all but one get EAGAIN.
- ``exclusive``: the same socket, registered with EPOLLEXCLUSIVE in a private epoll per worker
  whose descriptor the gevent loop watches (libev cannot set the flag itself). The kernel wakes
  one of the registered epolls per connection.
- ``reuseport``: SO_REUSEPORT, one socket per worker (Envoy's default enable_reuse_port): the
  kernel hashes each connection to one socket, and only its worker is woken.

Each worker accepts like gevent's StreamServer (up to 100 per wakeup, until EAGAIN) and answers
one HTTP request per connection. Two loads: ``serial`` (one connection at a time, ``--gap``
apart: every worker is asleep when one arrives)
and ``parallel`` (``--clients`` clients each opening connection after connection).

    python bench/balance_kernel.py --reps 3
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import threading
import time

MODES = ["shared", "exclusive", "reuseport"]
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def worker(mode, port, fd):
    """One accepting process; prints its counts as JSON when its stdin closes."""
    import gevent
    from gevent import socket as gsocket

    if mode == "reuseport":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
    else:
        listener = socket.socket(fileno=fd)
    listener.setblocking(False)
    counts = {"wakeups": 0, "accepted": 0, "empty": 0}

    def serve(conn):
        with gsocket.socket(fileno=conn.detach()) as sock:
            sock.recv(4096)
            sock.sendall(REPLY)

    def on_readable():
        counts["wakeups"] += 1
        if mode == "exclusive":
            exclusive.poll(0)          # consume the private epoll's readiness
        for taken in range(100):
            try:
                conn, _address = listener.accept()
            except BlockingIOError:
                counts["empty"] += not taken       # woken for a connection another worker took
                return
            counts["accepted"] += 1
            gevent.spawn(serve, conn)

    loop = gevent.get_hub().loop
    if mode == "exclusive":
        exclusive = select.epoll()
        exclusive.register(listener.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
        watcher = loop.io(exclusive.fileno(), 1)
    else:
        watcher = loop.io(listener.fileno(), 1)
    watcher.start(on_readable)
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    print("ready", flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()
    # every sleep in epoll_wait that a wakeup ended (the stdin thread adds two)
    counts["sleeps"] = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - switches
    print(json.dumps(counts), flush=True)


def connect_once(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: k\r\n\r\n")
        while sock.recv(4096):
            pass


def run(mode, load, args):
    port_holder = socket.socket()
    port_holder.bind(("127.0.0.1", 0))
    port = port_holder.getsockname()[1]
    shared = None
    if mode == "reuseport":
        port_holder.close()
    else:
        shared = port_holder
        shared.listen(1024)
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", mode, str(port),
                                 str(shared.fileno() if shared else -1)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                pass_fds=(shared.fileno(),) if shared else ())
               for _ in range(args.workers)]
    for process in workers:
        process.stdout.readline()
    deadline = time.monotonic() + args.seconds
    if load == "serial":
        while time.monotonic() < deadline:
            connect_once(port)
            time.sleep(args.gap)
    else:
        def client():
            while time.monotonic() < deadline:
                connect_once(port)
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    time.sleep(0.2)
    results = []
    for process in workers:
        process.stdin.close()
        results.append(json.loads(process.stdout.readline()))
        process.wait(10)
    if shared:
        shared.close()
    return results


def summary(rows):
    """Medians of: the busiest worker's share of the accepts, and per accepted connection the
    loop wakeups for the socket, the empty ones (EAGAIN at once) and the voluntary context
    switches (sleeps ended: a wakeup the kernel did but epoll then found nothing to report
    still counts here); and the accept split of each repetition."""
    shares, wakeups, empties, sleeps, splits = [], [], [], [], []
    for row in rows:
        accepted = sum(w["accepted"] for w in row) or 1
        shares.append(100.0 * max(w["accepted"] for w in row) / accepted)
        wakeups.append(sum(w["wakeups"] for w in row) / accepted)
        empties.append(sum(w["empty"] for w in row) / accepted)
        sleeps.append(sum(w["sleeps"] for w in row) / accepted)
        splits.append("/".join(str(w["accepted"]) for w in row))
    return (statistics.median(shares), statistics.median(wakeups), statistics.median(empties),
            statistics.median(sleeps), " ".join(splits))


def main():
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--gap", type=float, default=0.002,
                        help="pause between serial connections, so that every worker sleeps between them")
    args = parser.parse_args()
    rows = {(mode, load): [] for load in ("serial", "parallel") for mode in MODES}
    for _rep in range(args.reps):                   # interleaved
        for key in rows:
            rows[key].append(run(*key, args))
            print(key, rows[key][-1], file=sys.stderr, flush=True)
    print(f"{args.workers} gevent workers, {args.seconds:g} s per point, median of {args.reps} interleaved "
          f"repetitions; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| mode | load | accepts: busiest worker | wakeups/conn | empty wakeups/conn | sleeps ended/conn "
          "| accepts per worker (each rep) |")
    print("|---|---|---|---|---|---|---|")
    for (mode, load), mode_rows in rows.items():
        share, wakeups, empty, sleeps, splits = summary(mode_rows)
        print(f"| {mode} | {load} | {share:.0f}% | {wakeups:.2f} | {empty:.2f} | {sleeps:.2f} | {splits} |")


if __name__ == "__main__":
    main()
