"""Request mirroring through real processes: the shadow cluster gets a copy of each request (its
body too) with the Host suffixed "-shadow", as Envoy 1.40 sends it, and nothing the shadow does
(answering late, failing, refusing connections) reaches the client."""
import threading
import time

import pytest

from harness import RawClient, admin_stats, free_port, http_listener, simple_routes, to_yaml
from raw_upstream import RecordingUpstream

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


def answer(status, body):
    def respond(request):
        return b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body)
    return respond


def cluster(name, port):
    return {"name": name, "connect_timeout": "1s", "load_assignment": {"cluster_name": name, "endpoints": [
        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                      "port_value": port}}}}]}]}}


def config(primary_port, shadow_port, retry=False):
    mirrored = {"cluster": "primary", "request_mirror_policies": [{"cluster": "shadow"}]}
    if retry:
        mirrored["retry_policy"] = {"retry_on": "5xx", "num_retries": 1}
    routes = simple_routes(
        {"match": {"prefix": "/by-header"}, "route": {"cluster": "primary", "request_mirror_policies": [
            {"cluster_header": "x-mirror-to", "disable_shadow_host_suffix_append": True}]}},
        {"match": {"prefix": "/never"}, "route": {"cluster": "primary", "request_mirror_policies": [
            {"cluster": "shadow", "runtime_fraction": {"default_value": {"numerator": 0}}}]}},
        {"match": {"prefix": "/"}, "route": mirrored})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", routes)],
        "clusters": [cluster("primary", primary_port), cluster("shadow", shadow_port)]}})


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def primary():
    server = RecordingUpstream(answer(200, b"primary"))
    yield server
    server.close()


def request(proxy, path, headers=(), body=None, method="GET"):
    client = RawClient(proxy.port("listen"))
    try:
        return client.request(method=method, path=path, headers=(("Host", "example.com:8080"), *headers),
                              body=body)
    finally:
        client.close()


@pytest.mark.parametrize("retry", [False, True], ids=["plain", "retrying"])
def test_the_shadow_gets_a_copy_with_the_suffixed_host_and_the_body(proxy_factory, primary, retry):
    shadow = RecordingUpstream(answer(201, b"shadow"))
    try:
        proxy = proxy_factory(config(primary.port, shadow.port, retry))
        response = request(proxy, "/a?q=1", [("X-Custom", "yes")], b"hello body", method="POST")
        assert (response.status, response.body) == (200, b"primary")
        wait_for(lambda: len(shadow.requests) == 1)
        copy, original = shadow.requests[0], primary.requests[0]
        assert copy.request_line == b"POST /a?q=1 HTTP/1.1"
        assert copy.header(b"host") == b"example.com-shadow:8080"
        assert original.header(b"host") == b"example.com:8080"
        assert copy.header(b"x-custom") == b"yes" and copy.body == b"hello body"
        # otherwise the very request the primary got
        assert [line for line in copy.head.split(b"\r\n") if not line.startswith(b"host:")] == \
            [line for line in original.head.split(b"\r\n") if not line.startswith(b"host:")]
        # the shadow's answer is counted once its greenlet has read it
        wait_for(lambda: admin_stats(proxy.port("admin"), "^cluster.shadow.upstream_rq_")
                 .get("cluster.shadow.upstream_rq_2xx") == 1)
        stats = admin_stats(proxy.port("admin"), "^cluster.shadow.upstream_rq_")
        assert stats["cluster.shadow.upstream_rq_total"] == 1
    finally:
        shadow.close()


def test_a_chunked_body_is_mirrored_chunked(proxy_factory, primary):
    shadow = RecordingUpstream(answer(200, b"shadow"))
    try:
        proxy = proxy_factory(config(primary.port, shadow.port))
        client = RawClient(proxy.port("listen"))
        try:
            client.send(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"6\r\nchunky\r\n3\r\nabc\r\n0\r\n\r\n")
            assert client.read_response().status == 200
        finally:
            client.close()
        wait_for(lambda: len(shadow.requests) == 1)
        assert shadow.requests[0].header(b"transfer-encoding") == b"chunked"
        assert shadow.requests[0].body == primary.requests[0].body
        assert b"chunkyabc" in shadow.requests[0].body.replace(b"\r\n", b"").replace(b"6", b"").replace(b"3", b"")
    finally:
        shadow.close()


def test_cluster_header_and_no_suffix_and_a_zero_fraction(proxy_factory, primary):
    shadow = RecordingUpstream(answer(200, b"shadow"))
    try:
        proxy = proxy_factory(config(primary.port, shadow.port))
        assert request(proxy, "/by-header/none").status == 200           # no header: no copy
        assert request(proxy, "/by-header/unknown", [("x-mirror-to", "nowhere")]).status == 200
        assert request(proxy, "/never").status == 200
        assert request(proxy, "/by-header/yes", [("x-mirror-to", "shadow")]).status == 200
        wait_for(lambda: len(shadow.requests) >= 1)
        time.sleep(0.3)
        assert [r.target for r in shadow.requests] == [b"/by-header/yes"]
        assert shadow.requests[0].header(b"host") == b"example.com:8080"
    finally:
        shadow.close()


def test_a_shadow_that_has_not_answered_does_not_hold_the_response_back(proxy_factory, primary):
    release = threading.Event()

    def held(request):
        def respond(conn):
            release.wait(20)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        return respond

    shadow = RecordingUpstream(held)
    try:
        proxy = proxy_factory(config(primary.port, shadow.port))
        for index in range(3):
            response = request(proxy, f"/held/{index}", body=b"x" * 1000, method="POST")
            assert (response.status, response.body) == (200, b"primary")
        wait_for(lambda: len(shadow.requests) == 3)
        assert not release.is_set()      # every client had its answer while the shadow held on
    finally:
        release.set()
        shadow.close()


@pytest.mark.parametrize("failure", ["refused", "503", "reset"])
def test_a_failing_shadow_changes_nothing_for_the_client(proxy_factory, primary, failure):
    shadow = None
    if failure == "refused":
        shadow_port = free_port()
    else:
        shadow = RecordingUpstream(answer(503, b"down") if failure == "503" else (lambda request: None))
        shadow_port = shadow.port
    try:
        proxy = proxy_factory(config(primary.port, shadow_port))
        for index in range(5):
            response = request(proxy, f"/f/{index}", body=b"payload", method="POST")
            assert (response.status, response.body) == (200, b"primary")
            assert response.header("x-envoy-overloaded") is None
        assert len(primary.requests) == 5
        if shadow is not None:
            wait_for(lambda: len(shadow.requests) == 5)
    finally:
        if shadow is not None:
            shadow.close()


def test_a_body_beyond_the_buffer_limit_is_not_mirrored(proxy_factory, primary):
    shadow = RecordingUpstream(answer(200, b"shadow"))
    try:
        proxy = proxy_factory(config(primary.port, shadow.port))
        big = b"b" * (1024 * 1024 + 1)
        assert request(proxy, "/big", body=big, method="POST").status == 200
        assert request(proxy, "/small", body=b"s", method="POST").status == 200
        wait_for(lambda: len(shadow.requests) == 1)
        time.sleep(0.2)
        assert [r.target for r in shadow.requests] == [b"/small"]
        stats = admin_stats(proxy.port("admin"), "^cluster.primary.retry_or_shadow_abandoned")
        assert stats["cluster.primary.retry_or_shadow_abandoned"] == 1
    finally:
        shadow.close()


def test_the_listeners_buffer_limit_bounds_the_copy(proxy_factory, primary):
    shadow = RecordingUpstream(answer(200, b"shadow"))
    try:
        text = config(primary.port, shadow.port).replace(
            '"name": "http",', '"name": "http", "per_connection_buffer_limit_bytes": 4096,', 1)
        assert "per_connection_buffer_limit_bytes" in text
        proxy = proxy_factory(text)
        assert request(proxy, "/over", body=b"o" * 5000, method="POST").status == 200
        assert request(proxy, "/under", body=b"u" * 4000, method="POST").status == 200
        wait_for(lambda: len(shadow.requests) == 1)
        time.sleep(0.2)
        assert [r.target for r in shadow.requests] == [b"/under"]
        assert len(primary.requests) == 2 and len(primary.requests[0].body) == 5000
        stats = admin_stats(proxy.port("admin"), "^cluster.primary.retry_or_shadow_abandoned")
        assert stats["cluster.primary.retry_or_shadow_abandoned"] == 1
    finally:
        shadow.close()
