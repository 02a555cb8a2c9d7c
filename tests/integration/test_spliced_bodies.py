"""Content-Length bodies spliced socket -> pipe -> socket (issue 23, http/router/spliced_body.py):
what the client and the upstream get, around the splice threshold and far past it, over
keep-alive connections on both sides; HEAD; an upstream that closes early; the access log's
byte counts; and, by strace, that a spliced body's bytes are never read into the worker."""
import hashlib
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import bootstrap, http_listener, read_lines, simple_routes, static_cluster, workers

from hotproxy.http.router.spliced_body import SPLICE_MIN

FILE_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
MIB = 1 << 20
#: a body whose every byte says where it belongs: a reordered, repeated or lost piece shows
PATTERN = bytes(range(251)) * (3 * MIB // 251 + 1)
LOG_FORMAT = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT%\n"
# around the threshold (counted past what the first read takes with the head), 64 KiB, 1 MiB
SIZES = [SPLICE_MIN - 1, SPLICE_MIN + 1, 64 * 1024, 256 * 1024 + SPLICE_MIN, MIB, 3 * MIB]


class PatternHandler(BaseHTTPRequestHandler):
    """GET/HEAD /pattern/N: N bytes of PATTERN (Content-Length), written in uneven pieces;
    POST /digest: the length and SHA-256 of the request body; GET /cut/N: a head announcing N
    bytes, N/2 of them, then a close; POST /refuse: closes without reading the body."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.connections.add(self.client_address)
        kind, _, size = self.path.strip("/").partition("/")
        size = int(size)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        sent, step = 0, 40000
        limit = size // 2 if kind == "cut" else size
        while sent < limit:
            piece = PATTERN[sent:min(limit, sent + step)]
            self.wfile.write(piece)
            sent += len(piece)
            step = 40000 if step > 60000 else step + 7919
        if kind == "cut":
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    do_HEAD = do_GET

    def do_POST(self):
        self.server.connections.add(self.client_address)
        if self.path == "/refuse":
            self.close_connection = True
            self.connection.close()
            return
        remaining = int(self.headers["Content-Length"])
        digest, total = hashlib.sha256(), 0
        while remaining:
            piece = self.rfile.read(min(remaining, 100000))
            if not piece:
                break
            digest.update(piece)
            total += len(piece)
            remaining -= len(piece)
        self._reply(json.dumps({"length": total, "sha256": digest.hexdigest()}).encode())


@pytest.fixture
def pattern_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PatternHandler)
    server.daemon_threads = True
    server.connections = set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxied(proxy_factory, pattern_upstream, tmp_path):
    log_path = tmp_path / "access.log"
    access_log = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": FILE_LOG_TYPE, "path": str(log_path),
        "log_format": {"text_format_source": {"inline_string": LOG_FORMAT}}}}
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    config = bootstrap([http_listener("http", "listen", routes, {"access_log": [access_log]})],
                       [static_cluster("backend", pattern_upstream.server_address[1])])
    proxy = proxy_factory(config, extra_args=("--concurrency", "1"))
    proxy.access_log = log_path
    return proxy


def _post(client, path, body):
    return client.request("POST", path, body=body)


def test_response_bodies_arrive_whole_over_kept_alive_connections(proxied, pattern_upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    for size in SIZES:
        response = client.request("GET", f"/pattern/{size}")
        assert response.status == 200 and int(response.header("content-length")) == size
        assert response.body == PATTERN[:size], size
    assert len(pattern_upstream.connections) == 1   # the upstream connection went back to the pool
    assert not client.is_closed(0.2)
    lines = read_lines(proxied.access_log, len(SIZES))
    assert lines == [f"/pattern/{size} 200 - 0 {size}" for size in SIZES]


def test_request_bodies_arrive_whole_over_kept_alive_connections(proxied, pattern_upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    for size in SIZES:
        body = PATTERN[7:7 + size]
        answer = _post(client, "/digest", body).json()
        assert answer == {"length": size, "sha256": hashlib.sha256(body).hexdigest()}, size
    # both ways in turn on the same connections: a spliced request leaves the parser in step
    assert client.request("GET", f"/pattern/{MIB}").body == PATTERN[:MIB]
    assert len(pattern_upstream.connections) == 1
    lines = read_lines(proxied.access_log, len(SIZES) + 1)
    for line, size in zip(lines, SIZES):
        path, status, flags, received, sent = line.split()
        assert (path, status, flags, int(received)) == ("/digest", "200", "-", size)


def test_a_request_pipelined_behind_a_spliced_body_is_answered(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    body = PATTERN[:MIB]
    client.send(b"POST /digest HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%sGET /pattern/10 HTTP/1.1\r\nHost: h\r\n\r\n"
                % (len(body), body))
    assert client.read_response().json()["sha256"] == hashlib.sha256(body).hexdigest()
    assert client.read_response().body == PATTERN[:10]


def test_head_of_a_large_body_has_its_length_and_no_body(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    response = client.request("HEAD", f"/pattern/{MIB}")
    assert response.status == 200 and response.header("content-length") == str(MIB)
    assert client.request("GET", "/pattern/100").body == PATTERN[:100]  # nothing was left behind
    assert read_lines(proxied.access_log, 2)[0] == f"/pattern/{MIB} 200 - 0 0"


def test_an_upstream_that_closes_mid_body_resets_the_client(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    client.send(b"GET /cut/%d HTTP/1.1\r\nHost: h\r\n\r\n" % MIB)
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            client._fill()
    received = client.buffer.split(b"\r\n\r\n", 1)[1]
    assert received == PATTERN[:len(received)] and len(received) == MIB // 2
    path, status, flags, _, sent = read_lines(proxied.access_log, 1)[0].split()
    assert (path, status, flags, int(sent)) == (f"/cut/{MIB}", "200", "UC", MIB // 2)
    # the proxy serves the next client on a fresh upstream connection
    assert client_factory(proxied.port("listen")).request("GET", "/pattern/5").body == PATTERN[:5]


def test_an_upstream_that_refuses_a_request_body_gets_a_503(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    client.send(b"POST /refuse HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (8 * MIB))
    try:
        client.send(PATTERN[:MIB] * 8)
    except (BrokenPipeError, ConnectionResetError):
        pass    # the proxy answered and closed while the body was still going
    response = client.read_response()
    assert response.status == 503 and response.header("connection") == "close"
    assert response.body == b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"
    path, status, flags, *_ = read_lines(proxied.access_log, 1)[0].split()
    assert (path, status, flags) == ("/refuse", "503", "UC")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_spliced_body_is_never_read_into_the_worker(proxied, client_factory, tmp_path):
    """strace the worker while a 2 MiB request and a 2 MiB response go through: their bytes move
    by splice(2); what recv/read return is heads and the first reads' read-ahead only."""
    worker = workers(proxied)[0].pid
    trace = tmp_path / "strace.out"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=read,recvfrom,recvmsg,splice", "-e", "signal=none",
                               "-o", str(trace), "-p", str(worker)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        client = client_factory(proxied.port("listen"))
        while not (trace.exists() and trace.stat().st_size) and time.monotonic() < deadline:
            client.request("GET", "/pattern/1")     # until the tracer sees the worker
        body = PATTERN[:2 * MIB]
        assert _post(client, "/digest", body).json()["sha256"] == hashlib.sha256(body).hexdigest()
        assert client.request("GET", f"/pattern/{2 * MIB}").body == PATTERN[:2 * MIB]
    finally:
        time.sleep(0.2)
        tracer.terminate()
        tracer.wait(10)
    read_bytes = spliced = 0
    for line in trace.read_text().splitlines():
        match = re.search(r"\b(read|recvfrom|recvmsg|splice)\(.*\)\s+=\s+(\d+)", line)
        if match:
            if match.group(1) == "splice":
                spliced += int(match.group(2))
            else:
                read_bytes += int(match.group(2))
    # each body once into a pipe and once out of it; the first reads take at most 64 KiB of
    # the request and 256 KiB of the response with their heads
    assert spliced >= 2 * (4 * MIB - 64 * 1024 - 256 * 1024)
    assert read_bytes < 64 * 1024 + 256 * 1024 + 16 * 1024


def test_a_spliced_response_to_a_closing_request_ends_with_the_close(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    client.send(b"GET /pattern/%d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" % MIB)
    with pytest.raises(EOFError):
        while True:
            client._fill()
    head, body = client.buffer.split(b"\r\n\r\n", 1)
    assert b"connection: close" in head.lower() and body == PATTERN[:MIB]
