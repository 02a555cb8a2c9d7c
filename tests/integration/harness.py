"""Test harness: real hotproxy processes, upstream servers and a raw HTTP/1.1 client.

``proxy_factory(config_yaml)`` starts ``hotproxy -c`` on a config whose ``{port:name}``
placeholders are replaced by free ports, waits until every listener accepts, and stops it at the
end of the test. ``upstream`` is a threaded HTTP/1.1 server that records what it receives and
answers per path (see ``UpstreamHandler``).
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil

ROOT = Path(__file__).resolve().parents[2]
HOTPROXY = [sys.executable, "-m", "hotproxy"]
# Every process started here gets its own --base-id, so that none meets another's hot-restart
# rendezvous, whatever else runs on the host.
_BASE_IDS = itertools.count(os.getpid() % 2000 * 100 + 1000)


def next_base_id():
    return next(_BASE_IDS)


_OWN_PORTS_START = 10000
_OWN_PORTS = None


def _own_ports():
    """This test process's block of ports, below the kernel's ephemeral range and apart from
    every other pytest-xdist worker's. A port from bind(0) is free only until it is closed: the
    kernel may hand the same number to another worker before the peer binds it, and Envoy,
    binding with SO_REUSEPORT, would then share it with another test's proxy without a word."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            ephemeral_low = int(ranges.read().split()[0])
    except OSError:
        ephemeral_low = 32768
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    size = (ephemeral_low - _OWN_PORTS_START) // workers
    block = range(_OWN_PORTS_START + worker * size, _OWN_PORTS_START + (worker + 1) * size)
    # A random start keeps two test runs on one host (CI beside a developer's) apart too.
    first = random.randrange(len(block))
    return itertools.cycle(itertools.chain(block[first:], block[:first]))


def free_port():
    """A port nothing holds now (not even a TIME_WAIT), from this process's own block."""
    global _OWN_PORTS
    if _OWN_PORTS is None:
        _OWN_PORTS = _own_ports()
    for port in _OWN_PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


_REFUSING = []


def refused_port():
    """A port where every connect is refused, for as long as the test process lives: bound and
    never listening, so that no other test (pytest-xdist runs several) can take it meanwhile."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _REFUSING.append(sock)
    return sock.getsockname()[1]


def wait_for_port(port, timeout=10.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


class Proxy:
    def __init__(self, config_text, tmp_path, ports, extra_args=()):
        self.ports = ports
        self.config_path = tmp_path / "hotproxy.yaml"
        self.config_path.write_text(config_text)
        self.log_path = tmp_path / "hotproxy.log"
        self._log = open(self.log_path, "wb")
        base_id = () if "--base-id" in extra_args else ("--base-id", str(next_base_id()))
        self.process = subprocess.Popen(
            HOTPROXY + ["-c", str(self.config_path), "-l", "debug", *base_id, *extra_args],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_until_serving(self, timeout=20.0):
        """The arbiter binds before its workers are ready: wait for its "serving" line."""
        deadline = time.monotonic() + timeout
        while "] serving: " not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("hotproxy did not report serving")
            time.sleep(0.02)

    def port(self, name):
        return self.ports[name]

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def render(config_text, ports):
    """Replace ``{port:name}`` with a free port per distinct name; returns (text, ports)."""
    def substitute(match):
        name = match.group(1)
        if name not in ports:
            ports[name] = free_port()
        return str(ports[name])
    return re.sub(r"\{port:(\w+)\}", substitute, config_text), ports


class UpstreamHandler(BaseHTTPRequestHandler):
    """Answers by path:

    /echo (default)     200, JSON of what was received: method, path, headers (lower-case, in order), body
    /status/N           status N with body "status N"
    /sleep/MS           sleeps MS milliseconds, then 200 "slept"
    /bytes/N            200 with N bytes (Content-Length), streamed in 64 KiB writes
    /chunked/N          200 with N bytes in chunks of 10 KiB
    /close-delimited    200 without framing; the body ends when the connection closes
    /drain              reads the request body, answers its length and a running checksum
    """

    protocol_version = "HTTP/1.1"
    server_version = "upstream"

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _handle(self):
        server = self.server
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        server.connections.add(self.client_address)
        if parts[0] == "drain":
            total = 0
            digest = 0
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                piece = self.rfile.read(min(remaining, 1 << 16))
                if not piece:
                    break
                remaining -= len(piece)
                total += len(piece)
                digest = (digest + sum(piece[::4096])) % (1 << 32)
            return self._send(200, json.dumps({"length": total, "digest": digest}).encode())
        body = self._body()
        record = {"method": self.command, "path": self.path,
                  "headers": [[k.lower(), v] for k, v in self.headers.items()],
                  "body": body.decode("latin-1")}
        server.requests.append(record)
        if parts[0] == "status":
            return self._send(int(parts[1]), f"status {parts[1]}".encode())
        if parts[0] == "sleep":
            time.sleep(int(parts[1]) / 1000)
            return self._send(200, b"slept")
        if parts[0] == "bytes":
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command == "HEAD":
                return None
            block = b"x" * 65536
            while n > 0:
                self.wfile.write(block[:min(n, len(block))])
                n -= len(block)
            return None
        if parts[0] == "chunked":
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while n > 0:
                piece = b"y" * min(n, 10240)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                n -= len(piece)
            self.wfile.write(b"0\r\n\r\n")
            return None
        if parts[0] == "close-delimited":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until-close")
            self.close_connection = True
            return None
        query = parse_qs(urlsplit(self.path).query)
        extra = [("X-Upstream-Header", v) for v in query.get("respond_header", [])]
        return self._send(200, json.dumps(record).encode(), [("Content-Type", "application/json"), *extra])

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _handle


class _Server(ThreadingHTTPServer):
    request_queue_size = 128    # a proxy may open dozens of connections at once (HTTP/2 streams)


class Upstream:
    def __init__(self):
        self.server = _Server(("127.0.0.1", 0), UpstreamHandler)
        self.server.daemon_threads = True
        self.server.requests = []
        self.server.connections = set()
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.server.requests

    @property
    def connections(self):
        return self.server.connections

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# A raw HTTP/1.1 client: exact bytes out, a parsed response back.

class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (lower-case name, value) in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def header_names(self):
        return [key for key, _ in self.headers]

    def json(self):
        return json.loads(self.body)


class RawClient:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", path="/", headers=(("Host", "test"),), body=None):
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        return self.read_response(head_only=method == "HEAD")

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buffer += data

    def read_response(self, head_only=False):
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        _version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = [(k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:])]
        status = int(status)
        response = Response(status, reason, headers, b"", raw_head)
        names = dict(headers)
        if head_only or status in (204, 304) or status < 200:
            return response
        if names.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buffer:
                    self._fill()
                size_line, self.buffer = self.buffer.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buffer) < size + 2:
                    self._fill()
                body += self.buffer[:size]
                self.buffer = self.buffer[size + 2:]
                if size == 0:
                    break
            response.body = body
        elif "content-length" in names:
            length = int(names["content-length"])
            while len(self.buffer) < length:
                self._fill()
            response.body, self.buffer = self.buffer[:length], self.buffer[length:]
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def is_closed(self, wait=1.0):
        """True when the proxy closed this connection (EOF or reset within ``wait``)."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        finally:
            self.sock.settimeout(10.0)
        if data:
            self.buffer += data
            return False
        return True

    def close(self):
        self.sock.close()


HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


def http_listener(name, port_name, route_config, hcm_extra=None, stat_prefix="ingress_http"):
    """One HCM listener as a config dict."""
    hcm = {"@type": HCM_TYPE, "stat_prefix": stat_prefix, "route_config": route_config,
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]}
    hcm.update(hcm_extra or {})
    return {"name": name,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": f"{{port:{port_name}}}"}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


def static_cluster(name, port, connect_timeout="1s", extra=None):
    cluster = {"name": name, "type": "STATIC", "connect_timeout": connect_timeout,
               "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}
    cluster.update(extra or {})
    return cluster


def to_yaml(bootstrap):
    """JSON is YAML; port placeholders stay quoted strings until ``render`` turns them into numbers."""
    return re.sub(r'"(\{port:\w+\})"', r"\1", json.dumps(bootstrap, indent=1))


def accept_each(listener, handle):
    """Serve every connection ``listener`` accepts with ``handle(conn)`` in its own thread, until
    the listener is closed."""
    def loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


class ScriptedUpstream:
    """A raw TCP upstream that runs ``script(conn)`` for each accepted connection, for upstreams
    that misbehave (garbage, resets, silence) in ways an HTTP server library will not."""

    def __init__(self, script):
        self.script = script
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.received = []
        accept_each(self.sock, self._run)

    def _run(self, conn):
        with conn:
            try:
                self.script(self, conn)
            except OSError:
                pass

    def read_request(self, conn):
        """Read one request head (and a Content-Length body); returns the raw bytes."""
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return data
            data += piece
        head, _, rest = data.partition(b"\r\n\r\n")
        match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        length = int(match.group(1)) if match else 0
        while len(rest) < length:
            rest += conn.recv(65536)
        self.received.append(head + b"\r\n\r\n" + rest)
        return head + b"\r\n\r\n" + rest

    def close(self):
        self.sock.close()


def bootstrap(listeners, clusters):
    return to_yaml({"static_resources": {"listeners": listeners, "clusters": clusters}})


def simple_routes(*routes, domains=("*",)):
    """A route_config with one virtual host holding ``routes`` (dicts)."""
    return {"name": "local", "virtual_hosts": [{"name": "vh", "domains": list(domains), "routes": list(routes)}]}


def post_until(port, stop, failures, done, fresh=False, pause=0.0):
    """A client that never retries: POSTs on one keep-alive connection (a new one per request
    with ``fresh``) until ``stop`` is set, recording every non-200 or error in ``failures`` and
    counting requests in ``done[0]``. A failed connection is replaced, never retried."""
    client = RawClient(port)
    while not stop.is_set():
        try:
            if fresh:
                client = RawClient(port)
            response = client.request("POST", "/", body=b"payload")
            if response.status != 200:
                failures.append(f"status {response.status} {response.body[:100]!r}")
            done[0] += 1
        except (OSError, EOFError) as exc:
            failures.append(repr(exc))
            client = RawClient(port)
        if pause:
            time.sleep(pause)


# Reloads: rewrite a running proxy's config, send SIGHUP, wait for the new generation.

def rewrite(proxy, config_text):
    text, _ = render(config_text, proxy.ports)
    tmp = proxy.config_path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, proxy.config_path)


def wait_for_log(proxy, needle, count=1, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.log().count(needle) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} x{count} not in the log:\n{proxy.log()[-3000:]}")


def reload(proxy, expected_reloads):
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "serving (", count=expected_reloads)


def process_title(process):
    """A process's title, "" once it has exited: a retired worker can turn zombie between being
    listed and being read."""
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return ""
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def workers(proxy):
    """The arbiter's live worker processes (exited ones not yet reaped are left out)."""
    return [child for child in psutil.Process(proxy.process.pid).children() if "worker" in process_title(child)]


def admin_counter(admin_port, name, missing=0):
    """One stat's value from an admin interface (Envoy's or hotproxy's), ``missing`` when absent
    (an admin read first collects every worker's counts)."""
    url = f"http://127.0.0.1:{admin_port}/stats?filter=^{name}$"
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
    return missing


def admin_stats(admin_port, pattern):
    """{name: value} of the stats whose names match ``pattern`` (counters and gauges)."""
    url = f"http://127.0.0.1:{admin_port}/stats?format=json&filter={pattern}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return {s["name"]: s["value"] for s in json.load(response)["stats"] if "value" in s}


def read_lines(path, expected, timeout=10):
    """The lines of the file at ``path`` once it has at least ``expected`` (a log written by
    another process)."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= expected:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{len(lines)} lines in {path}, expected {expected}")
