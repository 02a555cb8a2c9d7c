"""HTTP/2 to upstreams through a real hotproxy: a cluster with explicit_http_config
http2_protocol_options, a real HTTP/2 server (the h2 library on plain sockets, in threads),
HTTP/1.1 and HTTP/2 clients. Multiplexing on one connection, a second connection past the peer's
stream limit, resets, GOAWAY, flow control with a large body, request bodies, trailers."""
import json
import socket
import subprocess
import threading
import time
import urllib.request

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from grpc_upstream import grpcio_echo_server
from harness import (admin_stats, http_listener, simple_routes, static_cluster,
                     to_yaml)

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
HTTP2 = {"typed_extension_protocol_options": {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}}
BIG = 1024 * 1024


class H2Upstream:
    """A threaded HTTP/2 server. Paths: ``/reset`` answers RST_STREAM, ``/goaway`` answers then
    says GOAWAY, ``/big`` a 1 MiB body, ``/trailers`` a body and grpc-status trailers,
    ``/slow`` waits 0.3 s; anything else echoes what it saw as JSON."""

    def __init__(self, max_concurrent_streams=100):
        self.max_streams = max_concurrent_streams
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.seen = []
        self.errors = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self._stop = True
        self.listener.close()

    def _accept(self):
        while not self._stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True).start()

    def _serve(self, sock, number):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        conn.initiate_connection()
        lock = threading.Lock()
        window = threading.Condition(lock)
        sock.sendall(conn.data_to_send())
        requests = {}
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                with lock:
                    events = conn.receive_data(data)
                    for event in events:
                        if isinstance(event, h2.events.RequestReceived):
                            requests[event.stream_id] = [dict(event.headers), b""]
                        elif isinstance(event, h2.events.DataReceived):
                            requests[event.stream_id][1] += event.data
                            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        elif isinstance(event, h2.events.WindowUpdated):
                            window.notify_all()
                        if isinstance(event, h2.events.StreamEnded):
                            head, body = requests.pop(event.stream_id)
                            threading.Thread(target=self._answer, daemon=True, args=(
                                sock, conn, lock, window, event.stream_id, head, body,
                                number)).start()
                    sock.sendall(conn.data_to_send())
        except Exception as error:
            self.errors.append(error)
        finally:
            sock.close()

    def _answer(self, sock, conn, lock, window, stream_id, head, body, number):
        path = head[b":path"].decode()
        self.seen.append((number, path))
        if path == "/slow":
            time.sleep(0.3)
        with lock:
            if path == "/reset" or (path == "/reset-once" and self.seen.count((number, path)) == 1):
                conn.reset_stream(stream_id, 2)
            elif path == "/503":
                conn.send_headers(stream_id, [(":status", "503"), ("content-length", "0")],
                                  end_stream=True)
            elif path == "/big":
                conn.send_headers(stream_id, [(":status", "200"), ("content-length", str(BIG))])
            elif path == "/trailers":
                conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
                conn.send_data(stream_id, b"payload")
                conn.send_headers(stream_id, [("grpc-status", "0"), ("grpc-message", "ok")], end_stream=True)
            else:
                answer = json.dumps({"path": path, "connection": number, "body": body[:64].decode(),
                                     "size": len(body),
                                     "headers": {k.decode(): v.decode() for k, v in head.items()}})
                conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json"),
                                              ("content-length", str(len(answer)))])
                conn.send_data(stream_id, answer.encode(), end_stream=True)
            if path == "/goaway":
                conn.close_connection(last_stream_id=stream_id)
            sock.sendall(conn.data_to_send())
            if path != "/big":
                return
            left = BIG
            while left:
                size = min(left, conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
                if size <= 0:
                    window.wait(5)
                    continue
                left -= size
                conn.send_data(stream_id, b"x" * size, end_stream=not left)
                sock.sendall(conn.data_to_send())


def config(port, cluster_extra=None, route_extra=None):
    return _with_cluster_options(port, {**HTTP2, **(cluster_extra or {})}, route_extra)


def _with_cluster_options(port, cluster_extra, route_extra=None):
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes(
            {"match": {"prefix": "/"}, "route": {"cluster": "backend", **(route_extra or {})}}),
            {"codec_type": "AUTO"})],
        "clusters": [static_cluster("backend", port, extra=cluster_extra)]}})


@pytest.fixture
def h2_upstream():
    servers = []

    def start(**kwargs):
        server = H2Upstream(**kwargs)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def proxied(proxy_factory, h2_upstream):
    server = h2_upstream()
    return server, proxy_factory(config(server.port), extra_args=["--concurrency", "1"])


def get(port, path, body=None, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_an_http1_client_reaches_the_h2_upstream(proxied):
    server, proxy = proxied
    status, headers, body = get(proxy.port("listen"), "/hello?x=1")
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == "/hello?x=1"
    assert seen["headers"][":authority"].startswith("127.0.0.1")
    assert seen["headers"][":scheme"] == "http" and seen["headers"][":method"] == "GET"
    assert "connection" not in seen["headers"] and "x-request-id" in seen["headers"]
    assert headers["server"] == "envoy" and "x-envoy-upstream-service-time" in headers
    stats = admin_stats(proxy.port("admin"), "cluster.backend")
    assert stats["cluster.backend.upstream_cx_http2_total"] == 1
    assert stats["cluster.backend.upstream_rq_total"] == 1


def test_a_request_body_goes_upstream_as_data(proxied):
    server, proxy = proxied
    status, _, body = get(proxy.port("listen"), "/echo", body=b"hello" * 20000, method="POST")
    seen = json.loads(body)
    assert status == 200 and seen["size"] == 100000 and seen["body"] == "hello" * 12 + "hell"


def test_concurrent_requests_share_one_upstream_connection(proxied):
    server, proxy = proxied
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(proxy.port("listen"), "/slow")))
               for _ in range(20)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _, _ in results] == [200] * 20
    assert server.connections == 1
    assert time.monotonic() - started < 3     # in parallel, not one after the other


def test_a_peer_stream_limit_of_one_opens_a_second_connection(proxy_factory, h2_upstream):
    server = h2_upstream(max_concurrent_streams=1)
    proxy = proxy_factory(config(server.port), extra_args=["--concurrency", "1"])
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(proxy.port("listen"), "/slow")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _, _ in results] == [200, 200], results
    assert server.connections == 2


def test_an_upstream_reset_is_a_503_with_envoys_body(proxied):
    server, proxy = proxied
    status, headers, body = get(proxy.port("listen"), "/reset")
    assert status == 503
    assert body == b"upstream connect error or disconnect/reset before headers. reset reason: remote reset"
    # the connection stays usable for the next request
    assert get(proxy.port("listen"), "/after")[0] == 200
    assert server.connections == 1
    stats = admin_stats(proxy.port("admin"), "cluster.backend.http2")
    assert stats["cluster.backend.http2.rx_reset"] == 1


def test_after_a_goaway_the_next_request_opens_a_new_connection(proxied):
    server, proxy = proxied
    assert get(proxy.port("listen"), "/goaway")[0] == 200
    time.sleep(0.2)
    status, _, body = get(proxy.port("listen"), "/next")
    assert status == 200 and json.loads(body)["connection"] == 2


def test_a_large_response_flows_through_the_windows(proxied):
    server, proxy = proxied
    status, headers, body = get(proxy.port("listen"), "/big")
    assert status == 200 and len(body) == BIG and headers["content-length"] == str(BIG)


def curl_h2(port, path, *extra):
    return subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", *extra,
                           f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, timeout=20, check=True).stdout


def test_an_h2_client_reaches_the_h2_upstream(proxied):
    server, proxy = proxied
    out = curl_h2(proxy.port("listen"), "/from-curl")
    assert out.startswith(b"HTTP/2 200")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["path"] == "/from-curl"
    big = curl_h2(proxy.port("listen"), "/big")
    assert len(big.split(b"\r\n\r\n", 1)[1]) == BIG


def test_trailers_reach_an_h2_client(proxied):
    server, proxy = proxied
    out = curl_h2(proxy.port("listen"), "/trailers")
    assert out.startswith(b"HTTP/2 200")
    assert b"payload" in out
    assert b"grpc-status: 0" in out and b"grpc-message: ok" in out


def test_an_http1_client_gets_the_body_without_trailers(proxied):
    server, proxy = proxied
    status, headers, body = get(proxy.port("listen"), "/trailers")
    assert status == 200 and body == b"payload"


RETRIES = {"retry_policy": {"retry_on": "reset,5xx", "num_retries": 2,
                            "retry_back_off": {"base_interval": "0.001s"}}}


def test_resets_and_5xx_are_retried_as_the_route_says(proxy_factory, h2_upstream):
    server = h2_upstream()
    proxy = proxy_factory(config(server.port, route_extra=RETRIES), extra_args=["--concurrency", "1"])
    port = proxy.port("listen")
    status, _, body = get(port, "/reset-once", body=b"kept for the replay", method="POST")
    assert status == 200 and json.loads(body)["body"] == "kept for the replay", (body, server.errors)
    status, _, body = get(port, "/reset")
    assert status == 503
    assert body == (b"upstream connect error or disconnect/reset before headers. "
                    b"retried and the latest reset reason: remote reset")
    assert get(port, "/503")[0] == 503
    assert server.seen.count((1, "/503")) == 3
    stats = admin_stats(proxy.port("admin"), "cluster.backend.upstream_rq_retry")
    assert stats["cluster.backend.upstream_rq_retry"] == 5


def test_grpc_unary_through_the_proxy(proxy_factory):
    """grpcio's client and server (this test process, not hotproxy's), raw bytes messages: the
    answer's trailers (grpc-status, grpc-message) reach the client, an error status too."""
    grpc = pytest.importorskip("grpc")
    with grpcio_echo_server() as port:
        proxy = proxy_factory(config(port), extra_args=["--concurrency", "1"])
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port('listen')}") as channel:
            call = channel.unary_unary("/test.Echo/Say")
            response, outcome = call.with_call(b"world", timeout=10)
            assert response == b"hello world"
            assert outcome.code() == grpc.StatusCode.OK
            assert ("x-trailer", "t") in outcome.trailing_metadata()
            with pytest.raises(grpc.RpcError) as failed:
                call(b"fail", timeout=10)
            assert failed.value.code() == grpc.StatusCode.NOT_FOUND
            assert failed.value.details() == "no such thing"
        stats = admin_stats(proxy.port("admin"), "cluster.backend")
        assert stats["cluster.backend.upstream_cx_http2_total"] == 1
        assert stats["cluster.backend.upstream_rq_total"] == 2


def test_use_downstream_protocol_config_follows_the_clients_protocol(proxy_factory, h2_upstream):
    server = h2_upstream()
    follow = {"typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "use_downstream_protocol_config": {"http_protocol_options": {},
                                               "http2_protocol_options": {}}}}}
    proxy = proxy_factory(_with_cluster_options(server.port, follow), extra_args=["--concurrency", "1"])
    out = curl_h2(proxy.port("listen"), "/over-h2")
    assert out.startswith(b"HTTP/2 200")
    # an HTTP/1.1 client's request goes upstream as HTTP/1.1, which this h2-only server answers
    # with a GOAWAY: no HTTP/1.1 response (502, or 503 when it closes first)
    assert get(proxy.port("listen"), "/over-http1")[0] in (502, 503)
    assert [path for _, path in server.seen] == ["/over-h2"]
