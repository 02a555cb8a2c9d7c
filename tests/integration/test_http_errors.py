"""Error cases through a real hotproxy: Envoy's status codes, bodies and connection handling."""
import socket
import subprocess
import time

import pytest

from harness import (HOTPROXY, ROOT, ScriptedUpstream, bootstrap, http_listener, next_base_id,
                     refused_port, render, simple_routes, static_cluster, wait_for_port)
from raw_upstream import RecordingUpstream, ok_for

CONNECT_ERROR = b"upstream connect error or disconnect/reset before headers. reset reason: "


def config(upstream_port, hcm_extra=None, extra_routes=(), clusters=()):
    routes = simple_routes(
        *extra_routes,
        {"match": {"prefix": "/missing-cluster"}, "route": {"cluster_header": "x-cluster"}},
        {"match": {"prefix": "/empty"}, "route": {"cluster": "empty"}},
        {"match": {"prefix": "/refused"}, "route": {"cluster": "refused"}},
        {"match": {"prefix": "/sleep"}, "route": {"cluster": "backend", "timeout": "0.5s"}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}},
        domains=("*",))
    routes["virtual_hosts"].insert(0, {"name": "only", "domains": ["only.example"], "routes": [
        {"match": {"path": "/exact"}, "route": {"cluster": "backend"}}]})
    empty = {"name": "empty", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {"cluster_name": "empty"}}
    return bootstrap([http_listener("http", "listen", routes, hcm_extra)],
                     [static_cluster("backend", upstream_port), empty,
                      static_cluster("refused", refused_port()), *clusters])


@pytest.fixture
def proxy(proxy_factory, upstream):
    return proxy_factory(config(upstream.port))


def test_no_route_is_404_with_empty_body_and_keep_alive(proxy, client_factory):
    client = client_factory(proxy.port("listen"))
    response = client.request("GET", "/other", [("Host", "only.example")])
    assert (response.status, response.body) == (404, b"")
    assert response.header_names() == ["date", "server", "content-length"]
    assert client.request("GET", "/exact", [("Host", "only.example")]).status == 200


def test_unknown_cluster_is_503_with_empty_body(proxy, client_factory):
    client = client_factory(proxy.port("listen"))
    response = client.request("GET", "/missing-cluster", [("Host", "h"), ("X-Cluster", "nope")])
    assert (response.status, response.body) == (503, b"")


def test_cluster_without_hosts_is_no_healthy_upstream(proxy, client_factory):
    response = client_factory(proxy.port("listen")).request("GET", "/empty")
    assert (response.status, response.body) == (503, b"no healthy upstream")
    assert response.header_names() == ["content-length", "content-type", "date", "server"]
    assert response.header("content-type") == "text/plain"


def test_connection_refused_is_503_and_the_client_connection_survives(proxy, client_factory):
    client = client_factory(proxy.port("listen"))
    response = client.request("POST", "/refused", body=b"payload")
    assert (response.status, response.body) == (503, CONNECT_ERROR + b"remote connection failure")
    assert response.header("connection") is None
    assert client.request("GET", "/").status == 200


def test_route_timeout_is_504(proxy, client_factory):
    client = client_factory(proxy.port("listen"))
    started = time.monotonic()
    response = client.request("GET", "/sleep/3000")
    assert (response.status, response.body) == (504, b"upstream request timeout")
    assert 0.4 < time.monotonic() - started < 2.5
    assert client.request("GET", "/").status == 200


def test_connect_timeout_is_503(proxy_factory, upstream, client_factory):
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    fillers = []
    try:
        # fill the accept queue so that further SYNs are dropped
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(blackhole.getsockname())
            fillers.append(s)
        time.sleep(0.1)
        hole = static_cluster("hole", blackhole.getsockname()[1], connect_timeout="0.25s")
        proxy = proxy_factory(config(upstream.port, extra_routes=[{"match": {"prefix": "/hole"}, "route": {"cluster": "hole"}}],
                                     clusters=[hole]))
        response = client_factory(proxy.port("listen")).request("GET", "/hole")
        assert (response.status, response.body) == (503, CONNECT_ERROR + b"connection timeout")
    finally:
        for s in fillers:
            s.close()
        blackhole.close()


@pytest.mark.parametrize("reply, status, body", [
    (b"SSH-2.0-not-http\r\n\r\n", 502, CONNECT_ERROR + b"protocol error"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", 502, CONNECT_ERROR + b"protocol error"),
    (b"", 503, CONNECT_ERROR + b"connection termination"),
])
def test_invalid_upstream_responses(proxy_factory, client_factory, reply, status, body):
    def script(server, conn):
        server.read_request(conn)
        if reply:
            conn.sendall(reply)

    upstream = ScriptedUpstream(script)
    try:
        proxy = proxy_factory(config(upstream.port))
        response = client_factory(proxy.port("listen")).request("GET", "/")
        assert (response.status, response.body) == (status, body)
    finally:
        upstream.close()


def test_upstream_reset_mid_body_closes_the_client_connection(proxy_factory, client_factory):
    def script(server, conn):
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")

    upstream = ScriptedUpstream(script)
    try:
        proxy = proxy_factory(config(upstream.port))
        client = client_factory(proxy.port("listen"))
        client.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        data = b""
        while True:
            piece = client.sock.recv(4096)
            if not piece:
                break
            data += piece
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"partial")
    finally:
        upstream.close()


@pytest.mark.parametrize("raw, status, body", [
    (b"GARBAGE\r\n\r\n", 400, b"Bad Request"),
    (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, b"Bad Request"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, b""),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, b"Bad Request"),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, b"Bad Request"),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501, b"Not Implemented"),
    (b"GET / HTTP/1.0\r\n\r\n", 426, b"Upgrade Required"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 62000 + b"\r\n\r\n", 431, b"Request Header Fields Too Large"),
    (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431,
     b"Request Header Fields Too Large"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 403, b""),
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 404, b""),
])
def test_malformed_requests_get_envoys_answer_and_a_close(proxy, upstream, client_factory, raw, status, body):
    client = client_factory(proxy.port("listen"))
    client.send(raw)
    response = client.read_response()
    assert (response.status, response.body) == (status, body)
    assert response.header("connection") == "close"
    assert client.is_closed(3)
    assert not any(r["path"] == "/" for r in upstream.requests)  # nothing smuggled through


def test_local_reply_with_unread_body_closes(proxy, client_factory):
    client = client_factory(proxy.port("listen"))
    response = client.request("POST", "/other", [("Host", "only.example")], body=b"abc")
    assert response.status == 404 and response.header("connection") == "close"
    assert client.is_closed(3)


def test_slowloris_gets_408_and_a_closed_connection(proxy_factory, upstream, client_factory):
    proxy = proxy_factory(config(upstream.port, hcm_extra={"request_headers_timeout": "0.5s"}))
    client = client_factory(proxy.port("listen"))
    client.send(b"GET / HTTP/1.1\r\nHost: h\r\n")
    started = time.monotonic()
    for _ in range(3):
        time.sleep(0.1)
        client.send(b"X-Drip: 1\r\n")
    response = client.read_response()
    assert (response.status, response.body) == (408, b"request header timeout")
    assert 0.4 < time.monotonic() - started < 2
    assert client.is_closed(3)


def test_idle_timeout_closes_silently(proxy_factory, upstream, client_factory):
    proxy = proxy_factory(config(upstream.port, hcm_extra={"common_http_protocol_options": {"idle_timeout": "0.5s"}}))
    client = client_factory(proxy.port("listen"))
    assert client.request("GET", "/").status == 200
    started = time.monotonic()
    assert client.sock.recv(10) == b""
    assert 0.3 < time.monotonic() - started < 3


def test_a_worker_survives_every_error_above(proxy, client_factory):
    for raw in (b"\x00\xff garbage", b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", b"G" * 70000):
        client = client_factory(proxy.port("listen"))
        client.send(raw)
        client.is_closed(3)
    assert proxy.process.poll() is None
    assert client_factory(proxy.port("listen")).request("GET", "/").status == 200


def test_a_worker_at_its_descriptor_limit_lets_connections_wait_instead_of_failing(tmp_path):
    """Each proxied connection needs two descriptors; beyond what the limit allows the worker stops
    accepting, and the rest wait in the backlog: every request is answered, none with a 503."""
    def slow(request):
        time.sleep(0.3)
        return ok_for(request)
    upstream = RecordingUpstream(slow)
    text, ports = render(bootstrap([http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}))], [static_cluster("backend", upstream.port)]), {})
    config_path = tmp_path / "limited.yaml"
    config_path.write_text(text)
    process = subprocess.Popen(["prlimit", "--nofile=96:96", *HOTPROXY, "-c", str(config_path), "--concurrency", "1",
                                "--base-id", str(next_base_id())], cwd=ROOT,
                               stdout=open(tmp_path / "log", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_for_port(ports["listen"], process=process)
        time.sleep(0.5)
        clients = [socket.create_connection(("127.0.0.1", ports["listen"])) for _ in range(60)]
        for client in clients:
            client.sendall(b"GET /wait HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        answers = []
        for client in clients:
            client.settimeout(20)
            data = b""
            while True:
                piece = client.recv(65536)
                if not piece:
                    break
                data += piece
            answers.append(data.split(b"\r\n", 1)[0])
            client.close()
        assert answers == [b"HTTP/1.1 200 OK"] * 60
        assert "Too many open files" not in (tmp_path / "log").read_text()
    finally:
        process.terminate()
        process.wait(10)
        upstream.close()
