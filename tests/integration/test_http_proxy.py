"""HTTP/1.1 proxying through a real hotproxy process: what the client and the upstream see."""
import re
import time

import pytest

from harness import bootstrap, http_listener, simple_routes, static_cluster

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def one_route_config(upstream_port, route=None, hcm_extra=None, clusters=()):
    route = route or {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    return bootstrap([http_listener("http", "listen", simple_routes(route), hcm_extra)],
                     [static_cluster("backend", upstream_port), *clusters])


@pytest.fixture
def proxied(proxy_factory, upstream):
    return proxy_factory(one_route_config(upstream.port))


def test_get_reaches_upstream_with_envoys_request_headers(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    response = client.request("GET", "/hello?x=1", [("User-Agent", "t/1"), ("Host", "example.com"), ("X-Mixed", "V")])
    assert response.status == 200
    seen = upstream.requests[-1]
    assert seen["path"] == "/hello?x=1"
    names = [k for k, _ in seen["headers"]]
    assert names == ["host", "user-agent", "x-mixed", "x-forwarded-proto", "x-request-id",
                     "x-envoy-expected-rq-timeout-ms"]
    headers = dict(seen["headers"])
    assert headers["host"] == "example.com" and headers["x-forwarded-proto"] == "http"
    assert UUID4.match(headers["x-request-id"])
    assert headers["x-envoy-expected-rq-timeout-ms"] == "15000"


def test_response_headers_follow_envoy(proxied, client_factory):
    response = client_factory(proxied.port("listen")).request("GET", "/echo")
    names = response.header_names()
    # the upstream's own headers first (its Server overwritten in place), then Envoy's additions
    assert names[:2] == ["server", "date"]
    assert response.header("server") == "envoy"
    assert names[-1] == "x-envoy-upstream-service-time"
    assert response.header("x-envoy-upstream-service-time").isdigit()
    assert response.raw_head.startswith(b"HTTP/1.1 200 OK\r\n")


def test_keep_alive_reuses_both_connections(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    for i in range(5):
        assert client.request("GET", f"/n{i}").status == 200
    assert len(upstream.connections) == 1
    assert not client.is_closed(0.2)


def test_pipelined_requests_are_answered_in_order(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    client.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(3)))
    paths = [client.read_response().json()["path"] for _ in range(3)]
    assert paths == ["/p0", "/p1", "/p2"]


def test_post_bodies_are_forwarded_with_their_framing(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    assert client.request("POST", "/cl", body=b"hello world").json()["body"] == "hello world"
    client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    echoed = client.read_response().json()
    assert echoed["body"] == "hello world"
    names = [k for k, _ in echoed["headers"]]
    assert names[-1] == "transfer-encoding" and names.count("transfer-encoding") == 1


def test_chunked_and_close_delimited_responses_are_rechunked(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    response = client.request("GET", "/chunked/50000")
    assert response.header("transfer-encoding") == "chunked" and response.body == b"y" * 50000
    response = client.request("GET", "/close-delimited")
    assert response.header("transfer-encoding") == "chunked" and response.body == b"until-close"
    assert response.header("connection") is None
    assert client.request("GET", "/after").status == 200  # the client connection survived


def test_expect_100_continue_is_answered_by_the_proxy(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    client.send(b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert client.sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.send(b"hello")
    echoed = client.read_response().json()
    assert echoed["body"] == "hello"
    assert "expect" not in dict(echoed["headers"])


def test_head_204_and_304_have_no_body(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    response = client.request("HEAD", "/bytes/1000")
    assert response.status == 200 and response.header("content-length") == "1000"
    assert client.request("GET", "/status/204").status == 204
    response = client.request("GET", "/status/304")
    assert response.status == 304 and response.body == b""
    assert client.request("GET", "/still-in-sync").status == 200


def test_hop_by_hop_and_control_headers_are_not_forwarded(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    client.request("GET", "/h", [("Host", "h"), ("Connection", "x-secret"), ("X-Secret", "1"),
                                 ("Keep-Alive", "timeout=5"), ("TE", "gzip"), ("Proxy-Connection", "keep-alive"),
                                 ("X-Envoy-Retry-On", "5xx"), ("X-Envoy-Foo", "kept")])
    names = [k for k, _ in upstream.requests[-1]["headers"]]
    for gone in ("connection", "x-secret", "keep-alive", "te", "proxy-connection", "x-envoy-retry-on"):
        assert gone not in names
    assert "x-envoy-foo" in names


def test_absolute_form_target_becomes_origin_form(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    client.send(b"GET http://example.org/abs?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
    assert client.read_response().status == 200
    seen = upstream.requests[-1]
    assert seen["path"] == "/abs?q=1" and seen["headers"][0] == ["host", "example.org"]


def test_connection_close_is_honoured(proxied, client_factory):
    client = client_factory(proxied.port("listen"))
    response = client.request("GET", "/x", [("Host", "h"), ("Connection", "close")])
    assert response.status == 200 and response.header("connection") == "close"
    assert client.is_closed(2)


def test_use_remote_address_appends_xff_and_regenerates_request_id(proxy_factory, upstream, client_factory):
    proxy = proxy_factory(one_route_config(upstream.port, hcm_extra={"use_remote_address": True}))
    client = client_factory(proxy.port("listen"))
    client.request("GET", "/", [("Host", "h"), ("X-Forwarded-For", "203.0.113.7"), ("X-Request-Id", "mine"),
                                ("X-Forwarded-Proto", "https")])
    seen = upstream.requests[-1]["headers"]
    assert seen == [["host", "h"], ["x-forwarded-for", "203.0.113.7,127.0.0.1"], ["x-request-id", seen[2][1]],
                    ["x-forwarded-proto", "http"], ["x-envoy-external-address", "127.0.0.1"],
                    ["x-envoy-expected-rq-timeout-ms", "15000"]]
    assert UUID4.match(seen[2][1])


def test_without_remote_address_client_ids_are_kept(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    client.request("GET", "/", [("Host", "h"), ("X-Forwarded-For", "203.0.113.7"), ("X-Request-Id", "mine")])
    headers = dict(upstream.requests[-1]["headers"])
    assert headers["x-forwarded-for"] == "203.0.113.7" and headers["x-request-id"] == "mine"


def test_generate_request_id_false(proxy_factory, upstream, client_factory):
    proxy = proxy_factory(one_route_config(upstream.port, hcm_extra={"generate_request_id": False}))
    client_factory(proxy.port("listen")).request("GET", "/")
    assert "x-request-id" not in dict(upstream.requests[-1]["headers"])


def test_route_header_mutations_and_prefix_rewrite(proxy_factory, upstream, client_factory):
    route = {"match": {"prefix": "/api/"},
             "route": {"cluster": "backend", "prefix_rewrite": "/v2/"},
             "request_headers_to_add": [{"header": {"key": "x-added", "value": "yes"}}],
             "request_headers_to_remove": ["x-drop"],
             "response_headers_to_add": [{"header": {"key": "x-resp", "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"},
                                          "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}
    proxy = proxy_factory(one_route_config(upstream.port, route))
    response = client_factory(proxy.port("listen")).request("GET", "/api/items?a=1", [("Host", "h"), ("X-Drop", "1")])
    assert response.status == 200 and response.header("x-resp") == "127.0.0.1"
    seen = upstream.requests[-1]
    assert seen["path"] == "/v2/items?a=1"
    headers = dict(seen["headers"])
    assert headers["x-added"] == "yes" and "x-drop" not in headers


def test_host_rewrite_literal(proxy_factory, upstream, client_factory):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend", "host_rewrite_literal": "internal.svc"}}
    proxy = proxy_factory(one_route_config(upstream.port, route))
    client_factory(proxy.port("listen")).request("GET", "/", [("Host", "public.example")])
    assert upstream.requests[-1]["headers"][0] == ["host", "internal.svc"]


def test_virtual_hosts_select_by_domain(proxy_factory, upstream, client_factory):
    routes = {"name": "rc", "virtual_hosts": [
        {"name": "api", "domains": ["api.example.com"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "api"}}}]},
        {"name": "wild", "domains": ["*.example.com"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "wild"}}}]},
        {"name": "default", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]}]}
    proxy = proxy_factory(bootstrap([http_listener("http", "listen", routes)], [static_cluster("backend", upstream.port)]))
    client = client_factory(proxy.port("listen"))
    assert client.request("GET", "/", [("Host", "API.example.com")]).body == b"api"
    assert client.request("GET", "/", [("Host", "www.example.com")]).body == b"wild"
    assert client.request("GET", "/", [("Host", "other.org")]).status == 200
    assert upstream.requests[-1]["headers"][0] == ["host", "other.org"]


def test_direct_response_and_redirect(proxy_factory, upstream, client_factory):
    routes = simple_routes(
        {"match": {"path": "/teapot"}, "direct_response": {"status": 418, "body": {"inline_string": "short and stout"}}},
        {"match": {"prefix": "/old"}, "redirect": {"path_redirect": "/new"}},
        {"match": {"prefix": "/secure"}, "redirect": {"https_redirect": True}})
    proxy = proxy_factory(bootstrap([http_listener("http", "listen", routes)], [static_cluster("backend", upstream.port)]))
    client = client_factory(proxy.port("listen"))
    response = client.request("GET", "/teapot")
    assert (response.status, response.body) == (418, b"short and stout")
    assert response.header_names() == ["content-length", "content-type", "date", "server"]
    response = client.request("GET", "/old", [("Host", "example.com")])
    assert (response.status, response.header("location")) == (301, "http://example.com/new")
    assert response.header_names() == ["location", "date", "server", "content-length"]
    response = client.request("GET", "/secure/x", [("Host", "example.com")])
    assert (response.status, response.header("location")) == (301, "https://example.com/secure/x")


def test_round_robin_spreads_over_hosts(proxy_factory, client_factory):
    from harness import Upstream
    servers = [Upstream(), Upstream()]
    try:
        cluster = static_cluster("backend", servers[0].port)
        cluster["load_assignment"]["endpoints"][0]["lb_endpoints"].append(
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": servers[1].port}}}})
        proxy = proxy_factory(bootstrap([http_listener("http", "listen", simple_routes(
            {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}))], [cluster]))
        client = client_factory(proxy.port("listen"))
        for _ in range(10):
            assert client.request("GET", "/").status == 200
        assert [len(s.requests) for s in servers] == [5, 5]
    finally:
        for server in servers:
            server.stop()


def test_strict_dns_cluster_resolves_names(proxy_factory, upstream, client_factory):
    cluster = static_cluster("backend", upstream.port, extra={"type": "STRICT_DNS", "dns_lookup_family": "V4_ONLY"})
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["address"] = "localhost"
    proxy = proxy_factory(bootstrap([http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend", "auto_host_rewrite": True}}))], [cluster]))
    client = client_factory(proxy.port("listen"))
    deadline = time.monotonic() + 5
    while (response := client.request("GET", "/dns")).status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert response.status == 200
    assert upstream.requests[-1]["headers"][0] == ["host", "localhost"]


def test_stale_pooled_connection_is_replaced_transparently(proxy_factory, client_factory):
    from harness import ScriptedUpstream

    def one_request_then_close(server, conn):
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.2)  # keep-alive was promised, but the upstream drops the connection

    upstream = ScriptedUpstream(one_request_then_close)
    try:
        proxy = proxy_factory(one_route_config(upstream.port))
        client = client_factory(proxy.port("listen"))
        assert client.request("GET", "/1").body == b"ok"
        time.sleep(0.5)
        assert client.request("GET", "/2").body == b"ok"
    finally:
        upstream.close()


def test_large_bodies_stream_in_bounded_memory(proxied, client_factory):
    import psutil
    process = psutil.Process(proxied.process.pid)
    rss_before = process.memory_info().rss
    size = 100 * 1024 * 1024
    client = client_factory(proxied.port("listen"), timeout=60)
    client.send(b"POST /drain HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % size)
    block = bytes(range(256)) * 256
    peak = 0
    for i in range(size // len(block)):
        client.sock.sendall(block)
        if i % 200 == 0:
            peak = max(peak, process.memory_info().rss)
    echoed = client.read_response().json()
    assert echoed["length"] == size
    # download: 100 MB through, counted as it arrives
    client.send(b"GET /bytes/%d HTTP/1.1\r\nHost: h\r\n\r\n" % size)
    while b"\r\n\r\n" not in client.buffer:
        client._fill()
    head, client.buffer = client.buffer.split(b"\r\n\r\n", 1)
    received = len(client.buffer)
    client.buffer = b""
    while received < size:
        received += len(client.sock.recv(1 << 20))
        peak = max(peak, process.memory_info().rss)
    assert received == size
    assert peak - rss_before < 40 * 1024 * 1024, f"RSS grew by {(peak - rss_before) >> 20} MiB"


def test_replies_generated_from_routes_carry_their_headers(proxy_factory, upstream, client_factory):
    routes = simple_routes(
        {"match": {"path": "/created"}, "direct_response": {"status": 201},
         "response_headers_to_add": [{"header": {"key": "x-from-route", "value": "1"}}]},
        {"match": {"prefix": "/go"}, "redirect": {"host_redirect": "elsewhere.example"}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    proxy = proxy_factory(bootstrap([http_listener("http", "listen", routes)], [static_cluster("backend", upstream.port)]))
    client = client_factory(proxy.port("listen"))
    response = client.request("GET", "/created", [("Host", "example.com")])
    assert response.status == 201 and response.header("x-from-route") == "1"
    assert response.header("location") == "http://example.com/created"
    # a redirect keeps the scheme the client says it used
    response = client.request("GET", "/go", [("Host", "example.com"), ("X-Forwarded-Proto", "https")])
    assert response.header("location") == "https://elsewhere.example/go"


def test_method_header_matcher(proxy_factory, upstream, client_factory):
    routes = simple_routes(
        {"match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "DELETE"}}]},
         "direct_response": {"status": 405}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    proxy = proxy_factory(bootstrap([http_listener("http", "listen", routes)], [static_cluster("backend", upstream.port)]))
    client = client_factory(proxy.port("listen"))
    assert client.request("DELETE", "/x").status == 405
    assert client.request("GET", "/x").status == 200


def test_weighted_clusters_and_cluster_header(proxy_factory, client_factory):
    from harness import Upstream
    a, b = Upstream(), Upstream()
    try:
        routes = simple_routes(
            {"match": {"prefix": "/by-header"}, "route": {"cluster_header": "x-target"}},
            {"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
                {"name": "a", "weight": 3}, {"name": "b", "weight": 1}]}}})
        proxy = proxy_factory(bootstrap([http_listener("http", "listen", routes)],
                                        [static_cluster("a", a.port), static_cluster("b", b.port)]))
        client = client_factory(proxy.port("listen"))
        for _ in range(200):
            assert client.request("GET", "/w").status == 200
        assert 110 < len(a.requests) < 190 and len(a.requests) + len(b.requests) == 200
        assert client.request("GET", "/by-header", [("Host", "h"), ("X-Target", "b")]).status == 200
        assert b.requests[-1]["path"] == "/by-header"
    finally:
        a.stop()
        b.stop()


def test_logical_dns_cluster(proxy_factory, upstream, client_factory):
    cluster = static_cluster("backend", upstream.port, extra={"type": "LOGICAL_DNS", "dns_lookup_family": "V4_ONLY"})
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["address"] = "localhost"
    proxy = proxy_factory(bootstrap([http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}))], [cluster]))
    client = client_factory(proxy.port("listen"))
    deadline = time.monotonic() + 5
    while (response := client.request("GET", "/dns")).status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert response.status == 200 and upstream.requests[-1]["path"] == "/dns"


def test_regex_rewrite(proxy_factory, upstream, client_factory):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend", "regex_rewrite": {
        "pattern": {"regex": "^/users/([0-9]+)/profile$"}, "substitution": "/profile?id=\\1"}}}
    proxy = proxy_factory(one_route_config(upstream.port, route))
    client_factory(proxy.port("listen")).request("GET", "/users/42/profile")
    assert upstream.requests[-1]["path"] == "/profile?id=42"


def test_content_length_bodies_of_every_size_keep_the_upstream_connection_in_sync(proxied, upstream, client_factory):
    client = client_factory(proxied.port("listen"))
    for size in (10, 100_000, 0, 70_000, 5, 1_000_000, 1):
        response = client.request("GET", f"/bytes/{size}")
        assert (response.status, len(response.body)) == (200, size)
    assert len(upstream.connections) == 1  # reused throughout: the parser never lost its place
