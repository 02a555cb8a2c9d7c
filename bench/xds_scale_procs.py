"""bench/xds_scale.py's measuring instruments: free ports, CPU and RSS read from /proc, the
upstreams that record which worker each request came from, and the probe clients."""
from __future__ import annotations

import itertools
import os
import socket
import threading
import time

import psutil

TICKS = os.sysconf("SC_CLK_TCK")
UPSTREAM_PORTS = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- what each process costs -------------------------------------------------------------------

def cpu_seconds(pid):
    """user+system seconds of ``pid`` from /proc/<pid>/stat; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid):
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def role_of(process, root_pid, kind):
    """hotproxy: arbiter, xds, flusher, worker; Envoy: envoy."""
    if kind == "envoy":
        return "envoy"
    if process.pid == root_pid:
        return "arbiter"
    try:
        line = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    for role, marks in (("worker", ("hotproxy.process.worker", "worker")), ("xds", ("xds_child", ": xds")),
                        ("flusher", ("flusher",))):
        if any(mark in line for mark in marks):
            return role
    return "other"


class CpuSampler:
    """Every 100 ms, the CPU seconds of every process of a proxy (and of the management server),
    by pid, last seen value kept: a phase's CPU is each pid's growth over it, a process that
    exited counted up to its last sample."""

    def __init__(self, root_pid, kind, server_pid):
        self.root_pid, self.kind, self.server_pid = root_pid, kind, server_pid
        self.seen = {}       # pid -> (role, cpu seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sample()
        #: what the processes had used when the proxy started: nothing but the management
        #: server's, which serves every run
        self.initial = {pid: seen for pid, seen in self.seen.items() if seen[0] == "control-plane"}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def processes(self):
        try:
            root = psutil.Process(self.root_pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self):
        found = [(p.pid, role_of(p, self.root_pid, self.kind)) for p in self.processes()]
        found.append((self.server_pid, "control-plane"))
        with self._lock:
            for pid, role in found:
                cpu = cpu_seconds(pid)
                if cpu is None:
                    continue
                # a role once known stays (a zombie has no command line; a child between fork and
                # exec has its parent's)
                known = self.seen.get(pid, ("other",))[0]
                self.seen[pid] = (role if known == "other" and role != "gone" else known, cpu)

    def snapshot(self):
        self.sample()
        with self._lock:
            return dict(self.seen)

    def _run(self):
        while not self._stop.wait(0.1):
            self.sample()

    def stop(self):
        self._stop.set()

    @staticmethod
    def by_role(before, after):
        roles = {}
        for pid, (role, cpu) in after.items():
            roles[role] = roles.get(role, 0.0) + cpu - (before[pid][1] if pid in before else 0.0)
        return roles

    def settle(self, quiet=0.02, window=0.5, timeout=60.0):
        """Wait until the proxy's processes (not the management server) used less than ``quiet``
        CPU seconds over ``window``."""
        deadline = time.monotonic() + timeout

        def total():
            snap = self.snapshot()
            return sum(cpu for role, cpu in snap.values() if role != "control-plane")
        last = total()
        while time.monotonic() < deadline:
            time.sleep(window)
            now = total()
            if now - last < quiet:
                return True
            last = now
        return False


# --- the upstreams and the probes --------------------------------------------------------------

class Upstream:
    """A minimal HTTP/1.1 keep-alive server on ``UPSTREAM_PORTS`` ports of 127.0.0.1 that answers
    200 to everything and records each request: (monotonic time, its name, the pid of the
    process whose socket connected, when ``owner`` finds it)."""

    def __init__(self, name, hits, owner):
        self.name, self.hits, self.owner = name, hits, owner
        self.sockets = []
        for _ in range(UPSTREAM_PORTS):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(512)
            self.sockets.append(sock)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        self.ports = [s.getsockname()[1] for s in self.sockets]

    def _accept(self, sock):
        port = sock.getsockname()[1]
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer[1], port), daemon=True).start()

    def _serve(self, conn, peer_port, port):
        pid = self.owner(peer_port, port)
        buffer = b""
        with conn:
            try:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                    _head, _, buffer = buffer.partition(b"\r\n\r\n")
                    self.hits.append((time.monotonic(), self.name, pid))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                return


class Owners:
    """Which of the ``pids`` (hotproxy's workers) holds the TCP socket from 127.0.0.1:``peer_port``
    to ``port``: found from their sockets in /proc, as the upstream accepts it."""

    def __init__(self):
        self.pids = []

    def __call__(self, peer_port, port):
        for pid in list(self.pids):
            try:
                for conn in psutil.Process(pid).net_connections("tcp4"):
                    if conn.laddr and conn.raddr and conn.laddr.port == peer_port and conn.raddr.port == port:
                        return pid
            except psutil.Error:
                continue
        return None


def http_status(port, path, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data:
        raise ConnectionResetError("closed without a response")
    return int(data.split(b" ", 2)[1])


class Prober:
    """``threads`` clients, each a fresh connection per request to the paths in turn, ``gap``
    seconds apart; records (start, end, path, status or the error's name)."""

    def __init__(self, port, paths, threads, gap):
        self.port, self.gap = port, gap
        self.paths = itertools.cycle(paths)
        self.results = []
        self.running = threading.Event()
        self._stop = threading.Event()
        for _ in range(threads):
            threading.Thread(target=self._loop, daemon=True).start()

    def set_paths(self, paths):
        self.paths = itertools.cycle(paths)

    def _loop(self):
        while not self._stop.is_set():
            if not self.running.wait(0.1):
                continue
            path = next(self.paths)
            started = time.monotonic()
            try:
                status = http_status(self.port, path)
            except OSError as error:
                status = type(error).__name__
            self.results.append((started, time.monotonic(), path, status))
            time.sleep(self.gap)

    def since(self, t):
        return [r for r in self.results if r[0] >= t]

    def stop(self):
        self._stop.set()
        self.running.set()
