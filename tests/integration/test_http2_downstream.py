"""HTTP/2 from clients (h2c with prior knowledge) through a real hotproxy to HTTP/1.1 upstreams:
what the client and the upstream see, flow control, local replies, filters, logs and stats."""
import json
import shutil
import subprocess
import threading
import time

import pytest

from h2_client import H2Client, h2_post_until
from harness import (admin_stats, bootstrap, http_listener, read_lines, reload, rewrite,
                     simple_routes, static_cluster, to_yaml, workers)

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


def config(upstream_port, hcm_extra=None, routes=None, tag="A"):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"},
             "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes(*(routes or [route])), hcm_extra)],
        "clusters": [static_cluster("backend", upstream_port)]}})


@pytest.fixture
def proxied(proxy_factory, upstream):
    return proxy_factory(config(upstream.port))


@pytest.fixture
def h2(proxied):
    clients = []

    def connect(**kwargs):
        client = H2Client(proxied.port("listen"), **kwargs)
        clients.append(client)
        return client
    yield connect
    for client in clients:
        client.close()


def test_a_get_over_h2_reaches_the_http1_upstream_as_envoy_sends_it(h2, upstream):
    response = h2().request("GET", "/hello?x=1", [("user-agent", "t/1"), ("x-mixed", "V")],
                            authority="example.com")
    assert response.status == 200
    assert response.header(b"server") == b"envoy"
    assert response.header(b"x-config") == b"A"
    assert response.header(b"connection") is None and response.header(b"keep-alive") is None
    seen = json.loads(response.body)
    assert seen["path"] == "/hello?x=1"
    headers = dict(seen["headers"])
    assert headers["host"] == "example.com"     # from :authority
    assert headers["x-forwarded-proto"] == "http"
    assert headers["user-agent"] == "t/1" and "x-request-id" in headers


def test_a_request_body_goes_upstream_framed_for_http1(h2, upstream):
    client = h2()
    sized = client.request("POST", "/echo", [("content-length", "5")], body=b"hello")
    assert json.loads(sized.body)["body"] == "hello"
    unsized = client.request("POST", "/echo", body=b"x" * 100_000)
    seen = json.loads(unsized.body)
    assert len(seen["body"]) == 100_000
    assert ["transfer-encoding", "chunked"] in seen["headers"]


def test_many_streams_share_one_connection_and_each_gets_its_own_answer(h2, proxied):
    client = h2()
    ids = [client.start("GET", f"/echo?n={n}") for n in range(40)]
    for n, stream_id in enumerate(ids):
        response = client.response(stream_id)
        assert response.status == 200
        assert json.loads(response.body)["path"] == f"/echo?n={n}"
    stats = admin_stats(proxied.port("admin"), "http2")
    assert stats["http.ingress_http.downstream_cx_http2_total"] == 1
    assert stats["http.ingress_http.downstream_rq_http2_total"] == 40


def test_local_replies_and_head_over_h2(proxy_factory, upstream):
    routes = [{"match": {"prefix": "/direct"}, "direct_response": {"status": 202, "body": {"inline_string": "here"}}}]
    proxy = proxy_factory(config(upstream.port, routes=routes))
    client = H2Client(proxy.port("listen"))
    try:
        direct = client.request("GET", "/direct")
        assert (direct.status, direct.body) == (202, b"here")
        missing = client.request("GET", "/nowhere")
        assert missing.status == 404 and missing.body == b""
        head = client.request("HEAD", "/direct")
        assert head.status == 202 and head.body == b""
        assert head.header(b"content-length") == b"4"
        assert not client.closed    # a local reply ends its stream, not the connection
    finally:
        client.close()


def test_a_response_larger_than_the_window_waits_for_the_client(h2):
    client = h2(window=65535, auto_acknowledge=False)
    stream_id = client.start("GET", "/bytes/1000000")
    response = client.responses[stream_id]
    deadline = time.monotonic() + 2
    client.sock.settimeout(0.3)
    while time.monotonic() < deadline:
        client.read_until(lambda: len(response.body) >= 65535)
        time.sleep(0.1)
        break
    client.sock.settimeout(0.5)
    client.read_until(lambda: len(response.body) > 65535)   # times out: nothing more may come
    assert len(response.body) == 65535 and not response.ended
    client.sock.settimeout(10)
    client.auto_acknowledge = True
    client.conn.acknowledge_received_data(65535, stream_id)
    client.conn.increment_flow_control_window(1 << 24)
    client.conn.increment_flow_control_window(1 << 24, stream_id)
    client._flush()
    client.read_until(lambda: response.ended)
    assert response.status == 200 and len(response.body) == 1_000_000


def test_filters_see_h2_requests_and_answer_them(proxy_factory, upstream):
    cors = {"name": "envoy.filters.http.cors", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}}
    router = {"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    route_config = simple_routes(route)
    route_config["virtual_hosts"][0]["typed_per_filter_config"] = {"envoy.filters.http.cors": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"exact": "http://a.example"}], "allow_methods": "GET"}}
    text = bootstrap([http_listener("http", "listen", route_config, {"http_filters": [cors, router]})],
                     [static_cluster("backend", upstream.port)])
    proxy = proxy_factory(text)
    client = H2Client(proxy.port("listen"))
    try:
        preflight = client.request("OPTIONS", "/", [("origin", "http://a.example"),
                                                    ("access-control-request-method", "GET")])
        assert preflight.status == 200
        assert preflight.header(b"access-control-allow-origin") == b"http://a.example"
        assert len(upstream.requests) == 0
        simple = client.request("GET", "/", [("origin", "http://a.example")])
        assert simple.status == 200
        assert simple.header(b"access-control-allow-origin") == b"http://a.example"
    finally:
        client.close()


def test_the_access_log_says_http2(proxy_factory, upstream, tmp_path):
    path = tmp_path / "access.log"
    log = [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": str(path), "log_format": {"text_format_source": {
            "inline_string": "%PROTOCOL% %REQ(:METHOD)% %RESPONSE_CODE% %BYTES_SENT%\n"}}}}]
    proxy = proxy_factory(config(upstream.port, {"access_log": log}))
    client = H2Client(proxy.port("listen"))
    try:
        assert client.request("GET", "/status/204").status == 204
    finally:
        client.close()
    assert read_lines(path, 1) == ["HTTP/2 GET 204 0"]


def test_a_client_reset_ends_the_stream_and_the_connection_serves_on(h2, proxied, upstream):
    client = h2()
    stream_id = client.start("GET", "/sleep/500")
    time.sleep(0.1)
    client.conn.reset_stream(stream_id)
    client._flush()
    after = client.request("GET", "/echo")
    assert after.status == 200
    stats = admin_stats(proxied.port("admin"), "downstream_rq_active")
    assert stats["http.ingress_http.downstream_rq_active"] == 0


def test_codec_type_http1_does_not_speak_h2(proxy_factory, upstream):
    proxy = proxy_factory(config(upstream.port, {"codec_type": "HTTP1"}))
    client = H2Client(proxy.port("listen"))
    try:
        client.start("GET", "/")
        client.read_until(lambda: False)
        assert client.closed and client.responses[1].status is None
    finally:
        client.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_prior_knowledge(proxied):
    out = subprocess.run(["curl", "-s", "-i", "--http2-prior-knowledge",
                          f"http://127.0.0.1:{proxied.port('listen')}/status/201"],
                         capture_output=True, timeout=20).stdout
    assert out.startswith(b"HTTP/2 201")


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) is not installed")
def test_h2load_multiplexed_streams_all_succeed(proxied):
    out = subprocess.run(["h2load", "-n", "600", "-c", "4", "-m", "10",
                          f"http://127.0.0.1:{proxied.port('listen')}/status/200"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "600 succeeded, 0 failed, 0 errored" in out, out


def test_reloads_fail_no_h2_request(proxy_factory, upstream):
    """Clients that never retry, each on one h2 connection until the server says GOAWAY, then on
    a new one: across reloads, every request is answered by one generation or the next."""
    proxy = proxy_factory(config(upstream.port, {"drain_timeout": "0.2s"}),
                          extra_args=["--concurrency", "2"])
    port = proxy.port("listen")
    stop = threading.Event()
    failures, done, goaways = [], [0], [0]
    threads = [threading.Thread(target=h2_post_until, args=(port, stop, failures, done, goaways))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(10):
            rewrite(proxy, config(upstream.port, {"drain_timeout": "0.2s"}, tag=f"R{n}"))
            reload(proxy, n + 1)
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert done[0] > 50
    assert failures == []
    assert goaways[0] >= 4      # the old generations said GOAWAY: the clients moved on
    assert len(workers(proxy)) >= 2


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_alpn_h2_on_a_tls_listener_and_http1_beside_it(proxy_factory, upstream, tmp_path):
    from certs import CA
    from tls_harness import downstream_tls
    ca = CA()
    server = ca.issue("example.com", dns=["example.com"])
    listener = http_listener("https", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}))
    listener["filter_chains"][0]["transport_socket"] = downstream_tls(server)
    listener["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"][
        "alpn_protocols"] = ["h2", "http/1.1"]
    proxy = proxy_factory(to_yaml({"static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream.port)]}}))
    ca_path = ca.write(tmp_path)
    url = f"https://example.com:{proxy.port('listen')}/status/200"
    resolve = f"example.com:{proxy.port('listen')}:127.0.0.1"
    for flag, expected in (("--http2", b"HTTP/2 200"), ("--http1.1", b"HTTP/1.1 200")):
        out = subprocess.run(["curl", "-s", "-i", flag, "--cacert", str(ca_path), "--resolve", resolve, url],
                             capture_output=True, timeout=20).stdout
        assert out.startswith(expected), out[:200]
    seen = dict(upstream.requests[0]["headers"])
    assert seen["x-forwarded-proto"] == "https"


@pytest.mark.parametrize("action", ["DROP_HEADER", "REJECT_REQUEST"])
def test_headers_with_underscores_over_h2(proxy_factory, upstream, action):
    hcm = {"common_http_protocol_options": {"headers_with_underscores_action": action}}
    proxy = proxy_factory(config(upstream.port, hcm))
    client = H2Client(proxy.port("listen"))
    try:
        response = client.request("GET", "/echo", [("x_under", "1"), ("x-fine", "2")])
        after = client.request("GET", "/echo", [("x-fine", "3")])
    finally:
        client.close()
    stats = admin_stats(proxy.port("admin"), "http2")
    if action == "DROP_HEADER":
        names = [name for name, _ in json.loads(response.body)["headers"]]
        assert "x-fine" in names and "x_under" not in names
        assert stats["http2.dropped_headers_with_underscores"] == 1
    else:
        assert response.reset == 2 and response.status is None     # INTERNAL_ERROR, as Envoy
        assert stats["http2.requests_rejected_with_underscores_in_headers"] == 1
    assert after.status == 200      # the connection serves on
