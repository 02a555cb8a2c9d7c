"""What compare.py and the benches built on it share: where things run, wrk's report script,
nginx's config, ports, and the CPU time of a process tree."""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_BIN = Path(sys.executable).parent
PROXY_CPU, LOAD_CPU = "0", "1"

WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, latency:percentile(50),
                         latency:percentile(99), summary.errors.status + summary.errors.connect +
                         summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{h2_port} http2;
    location = / {{ return 200 "hello world\\n"; }}
    location = /64k {{ alias {dir}/64k.bin; }}
    location = /64k-text {{ alias {dir}/64k.txt; }}
    location = /1m {{ alias {dir}/1m.bin; }}
    location = /1m-text {{ alias {dir}/1m.txt; }}
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing accepts on port {port}")


def http_get(port, path, timeout=60):
    """The status of one GET. The wait is long: a proxy's listener accepts before its worker is
    ready, and on a loaded machine a worker takes seconds to start."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def tree_cpu_seconds(pid):
    """user+system seconds of a process and all its descendants."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


class Target:
    def __init__(self, name, port, pid, admin_port=None):
        self.name, self.port, self.pid, self.admin_port = name, port, pid, admin_port
