"""The memory point of compare.py: RSS per worker, and KB per idle keep-alive connection.

A fresh proxy is warmed with a few hundred requests; then ``count`` client connections each make
one keep-alive request and stay open, idle. The RSS of the processes that hold the connections
(hotproxy's workers, Envoy's one process) is read before and after; the difference divided by
the connections still open is the cost of one idle connection, everything included (socket
objects, buffers, greenlets, Envoy's connection and codec objects). Kernel socket memory is not
in RSS and is the same for both proxies.
"""
from __future__ import annotations

import os
import resource
import socket
import time

import psutil

WORKER_MARKS = ("hotproxy: worker", "hotproxy.process.worker")
WARM_REQUESTS = 400
SETTLE_S = 1.0
#: a proxy that stops answering (a connection limit reached) ends the point after this many
GIVE_UP_AFTER_FAILURES = 3


def open_files_needed(idle_conns):
    """hotproxy's workers accept only as many connections as half their descriptor limit (each
    may need an upstream one, listener/manager.py's accept_pool), and the bench holds the client
    ends: twice the connections, and room for everything else."""
    return 2 * idle_conns + 1024


def raise_open_files_limit(needed):
    """Lift RLIMIT_NOFILE to at least ``needed`` (the proxies started later inherit it). Returns
    the soft limit in force; raises when it stays below ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))  # root may raise the hard one
        except (ValueError, OSError):
            raise RuntimeError(f"RLIMIT_NOFILE's hard limit is {hard}, below the {needed} descriptors "
                               f"the memory point needs (ulimit -Hn {needed} as root)") from None
        return needed
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def connection_holders(root_pid):
    """The processes of a proxy that hold client connections: hotproxy's workers (found by their
    title or command line), or the proxy's own process (Envoy)."""
    root = psutil.Process(root_pid)
    workers = []
    for child in root.children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if any(mark in command for mark in WORKER_MARKS):
            workers.append(child)
    return workers or [root]


def rss_bytes(processes):
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def tree_rss_bytes(root_pid):
    root = psutil.Process(root_pid)
    return rss_bytes([root, *root.children(recursive=True)])


def keepalive_request(sock, path="/"):
    """One GET on ``sock``, its response read whole (Content-Length framed); the connection
    stays open. Returns the status code."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                   if line.lower().startswith("content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        body += chunk
    return status


def still_open(sock):
    """An idle connection the proxy closed reads as end-of-file (or an error) at once."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def measure(port, root_pid, count, load_cpu=None):
    """The memory point against a proxy listening on ``port`` whose process tree is ``root_pid``.
    Returns RSS per holder process before the idle connections, KB per idle connection, and how
    many of them were still open when measured."""
    affinity = os.sched_getaffinity(0)
    if load_cpu is not None:
        os.sched_setaffinity(0, {int(load_cpu)})
    sockets = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as warm:
            for _ in range(WARM_REQUESTS):
                keepalive_request(warm)
        time.sleep(SETTLE_S)
        holders = connection_holders(root_pid)
        before = rss_bytes(holders)
        tree_before = tree_rss_bytes(root_pid)
        failed = 0
        for _ in range(count):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sockets.append(sock)
                if keepalive_request(sock) != 200:
                    failed += 1
            except OSError:
                failed += 1
            if failed >= GIVE_UP_AFTER_FAILURES:
                break
        time.sleep(SETTLE_S)
        after = rss_bytes(holders)
        tree_after = tree_rss_bytes(root_pid)
        open_now = sum(1 for sock in sockets if still_open(sock))
    finally:
        for sock in sockets:
            sock.close()
        os.sched_setaffinity(0, affinity)
    return {"holders": len(holders), "rss_mb_per_holder": before / len(holders) / 2**20,
            "tree_rss_mb": tree_before / 2**20, "tree_rss_mb_loaded": tree_after / 2**20,
            "kb_per_conn": (after - before) / 1024 / max(open_now, 1),
            "open": open_now, "failed": failed}
