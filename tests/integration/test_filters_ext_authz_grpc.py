"""ext_authz with a gRPC authorization service (envoy.service.auth.v3.Authorization/Check): grpcio's
server in this test process (grpc_authz_server.py) decides by path, and the client and the
upstream show what got through. Every test runs on hotproxy and on Envoy 1.40 (``peer_factory``)
with the same config."""
import threading
import time

import pytest

from harness import RawClient, http_listener, read_lines, simple_routes, to_yaml

grpc_authz_server = pytest.importorskip("grpc_authz_server")    # grpcio and xds-protos

EXT_AUTHZ_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
HTTP2 = {"typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "explicit_http_config": {"http2_protocol_options": {}}}}}
STAT = "http.ingress_http.ext_authz."


@pytest.fixture
def authz():
    server = grpc_authz_server.AuthzServer()
    yield server
    server.stop()


@pytest.fixture
def deadline_blind_authz():
    server = grpc_authz_server.DeadlineBlindAuthz()
    yield server
    server.stop()


def cluster(name, port, extra=None):
    return {"name": name, "connect_timeout": "1s", **(extra or {}), "load_assignment": {
        "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
            "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


def config(upstream_port, authz_port, http2=True, access_log=None, **extra):
    ext_authz = {"name": "envoy.filters.http.ext_authz", "typed_config": {
        "@type": EXT_AUTHZ_TYPE, "transport_api_version": "V3",
        "grpc_service": {"envoy_grpc": {"cluster_name": "authz"}, "timeout": "0.3s"}, **extra}}
    routes = simple_routes(
        {"match": {"prefix": "/ctx"}, "route": {"cluster": "app"}, "typed_per_filter_config": {
            "envoy.filters.http.ext_authz": {"@type": PER_ROUTE_TYPE, "check_settings": {
                "context_extensions": {"tenant": "t1", "zone": "z"}}}}},
        {"match": {"prefix": "/public"}, "route": {"cluster": "app"}, "typed_per_filter_config": {
            "envoy.filters.http.ext_authz": {"@type": PER_ROUTE_TYPE, "disabled": True}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "app"}})
    hcm = {"http_filters": [ext_authz, ROUTER]}
    if access_log is not None:
        hcm["access_log"] = [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(access_log), "log_format": {"text_format_source": {"inline_string":
                "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% "
                "%DYNAMIC_METADATA(envoy.filters.http.ext_authz:user)%\n"}}}}]
    listener = http_listener("http", "listen", routes, hcm_extra=hcm)
    clusters = [cluster("app", upstream_port), cluster("authz", authz_port, HTTP2 if http2 else None)]
    return to_yaml({"admin": ADMIN, "static_resources": {"listeners": [listener], "clusters": clusters}})


def send(port, path, method="POST", body=b"abcdef", headers=()):
    client = RawClient(port)
    try:
        return client.request(method=method, path=path, body=body, headers=(
            ("Host", "example.com"), ("X-Secret", "s"), ("X-Multi", "client"), ("X-Keep", "client"),
            *headers))
    finally:
        client.close()


def seen(record, name):
    return [value for key, value in record["headers"] if key == name]


def test_allowed_request_and_what_the_service_sees(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    response = send(peer.port("listen"), "/app/x?q=1", headers=(("Authorization", "Bearer t"),))
    assert response.status == 200, response.body
    check, metadata = authz.last()
    attributes = check.attributes
    http = attributes.request.http
    assert (http.method, http.path, http.host, http.scheme, http.protocol) == (
        "POST", "/app/x?q=1", "example.com", "http", "HTTP/1.1")
    assert http.id.isdigit() and http.size == 0 and http.body == ""
    assert attributes.source.address.socket_address.address == "127.0.0.1"
    assert attributes.destination.address.socket_address.port_value == peer.port("listen")
    assert attributes.request.time.seconds > 0
    headers = dict(http.headers)
    assert {name: headers[name] for name in (":method", ":path", ":scheme", ":authority")} == {
        ":method": "POST", ":path": "/app/x?q=1", ":scheme": "http", ":authority": "example.com"}
    assert "host" not in headers and headers["authorization"] == "Bearer t"
    assert headers["content-length"] == "6" and headers["x-forwarded-proto"] == "http"
    assert headers["x-secret"] == "s" and "x-request-id" in headers
    assert dict(attributes.context_extensions) == {}
    assert attributes.HasField("metadata_context")
    assert metadata["x-envoy-internal"] == "true"
    assert metadata["x-envoy-expected-rq-timeout-ms"] == "300"
    got = upstream.requests[-1]
    assert seen(got, "x-user") == ["alice"] and seen(got, "x-secret") == []
    assert seen(got, "x-multi") == ["client,from-authz"]       # append: joined to the client's
    assert seen(got, "x-keep") == ["authz"] and seen(got, "x-only-if-there") == ["new"]
    assert got["body"] == "abcdef"
    assert response.header("x-client-note") == "checked"
    assert peer.counter(STAT + "ok") == 1


def test_context_extensions_from_the_route(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    assert send(peer.port("listen"), "/ctx/a").status == 200
    check, _ = authz.last()
    assert dict(check.attributes.context_extensions) == {"tenant": "t1", "zone": "z"}


def test_per_route_disabled(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    assert send(peer.port("listen"), "/public/deny").status == 200
    assert authz.checks == []


def test_denied_response(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    response = send(peer.port("listen"), "/deny/x")
    assert response.status == 401 and response.body == b"denied by grpc"
    assert response.header("x-reason") == "no-token"
    assert response.header("www-authenticate") == "Bearer"
    assert response.header("content-type") == "text/plain"
    assert upstream.requests == []
    assert peer.counter(STAT + "denied") == 1


def test_non_ok_status_without_error_response_is_a_403_denial(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    response = send(peer.port("listen"), "/unknown-status")
    assert response.status == 403 and response.body == b""
    assert peer.counter(STAT + "denied") == 1 and peer.counter(STAT + "error") == 0


def counter_reaches(peer, name, expected, timeout=3.0):
    """Whether counter ``name`` reads ``expected`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while peer.counter(name) != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("path", ["/slow/x", "/abort/x"])
def test_timeout_and_failed_call_are_errors(peer_factory, upstream, authz, deadline_blind_authz, path):
    if path.startswith("/slow"):    # only the proxy's own timer may end the slow check
        authz = deadline_blind_authz
    peer = peer_factory(config(upstream.port, authz.port))
    started = time.monotonic()
    response = send(peer.port("listen"), path)
    assert response.status == 403 and response.body == b""
    assert time.monotonic() - started < 0.9     # the 0.3s timeout, not the service's second
    assert upstream.requests == []
    # counted as the call ends, which may follow the reply by a moment (Envoy's, under load)
    assert counter_reaches(peer, STAT + "error", 1)
    timeouts = 1 if path == "/slow/x" else 0
    assert counter_reaches(peer, "cluster.authz.upstream_rq_timeout", timeouts)
    # the stream was given up, not the connection: the next check rides it
    assert send(peer.port("listen"), "/app").status == 200
    assert peer.counter("cluster.authz.upstream_cx_total") == 1


def test_error_response_answers_with_its_status_and_body(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    response = send(peer.port("listen"), "/error")
    assert response.status == 503 and response.body == b"authz broke"
    assert peer.counter(STAT + "error") == 1 and peer.counter(STAT + "denied") == 0


@pytest.mark.parametrize("path", ["/error", "/abort", "/slow"])
def test_failure_mode_allow(peer_factory, upstream, authz, path):
    peer = peer_factory(config(upstream.port, authz.port, failure_mode_allow=True,
                               failure_mode_allow_header_add=True))
    response = send(peer.port("listen"), path)
    assert response.status == 200
    got = upstream.requests[-1]
    assert seen(got, "x-envoy-auth-failure-mode-allowed") == ["true"]
    assert seen(got, "x-secret") == ["s"] and seen(got, "x-multi") == ["client"]
    assert peer.counter(STAT + "failure_mode_allowed") == 1 and peer.counter(STAT + "error") == 1


def test_status_on_error(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port, status_on_error={"code": 503}))
    assert send(peer.port("listen"), "/abort").status == 503


@pytest.mark.parametrize("settings, body, raw, partial", [
    ({"max_request_bytes": 4, "allow_partial_message": True}, "abcd", b"", "true"),
    ({"max_request_bytes": 40, "pack_as_bytes": True}, "", b"abcdef", "false"),
])
def test_with_request_body(peer_factory, upstream, authz, settings, body, raw, partial):
    peer = peer_factory(config(upstream.port, authz.port, with_request_body=settings))
    assert send(peer.port("listen"), "/app").status == 200
    check, _ = authz.last()
    http = check.attributes.request.http
    assert (http.size, http.body, http.raw_body) == (6, body, raw)
    assert http.headers["x-envoy-auth-partial-body"] == partial
    assert upstream.requests[-1]["body"] == "abcdef"


def test_dynamic_metadata_and_access_log(peer_factory, upstream, authz, tmp_path):
    log = tmp_path / "access.log"
    peer = peer_factory(config(upstream.port, authz.port, access_log=log))
    for path in ("/app", "/deny", "/abort"):
        send(peer.port("listen"), path)
    lines = read_lines(log, 3)
    assert lines[1:] == ["401 UAEX ext_authz_denied -", "403 UAEX ext_authz_error -"]
    assert lines[0].startswith("200 - ") and lines[0].endswith(" alice")


def test_cluster_without_http2_fails_every_check(peer_factory, upstream, authz):
    """Envoy 1.40 accepts the config and speaks gRPC over HTTP/1.1, which grpcio refuses: every
    check is an error. hotproxy fails them too (it has no HTTP/1.1 gRPC client)."""
    peer = peer_factory(config(upstream.port, authz.port, http2=False))
    assert send(peer.port("listen"), "/app").status == 403
    assert peer.counter(STAT + "error") == 1


def test_many_checks_share_the_pool(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    for index in range(5):
        assert send(peer.port("listen"), f"/app/{index}").status == 200
    assert peer.counter("cluster.authz.upstream_cx_total") == 1
    assert peer.counter("cluster.authz.upstream_rq_total") == 5


def test_a_slow_check_holds_its_own_stream_only(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.port))
    results = []
    slow = threading.Thread(target=lambda: results.append(send(peer.port("listen"), "/slow").status))
    slow.start()
    time.sleep(0.05)
    assert send(peer.port("listen"), "/app").status == 200
    slow.join()
    assert results == [403]


def test_an_http2_client_is_checked_as_http2(peer_factory, upstream, authz):
    from h2_client import H2Client
    peer = peer_factory(config(upstream.port, authz.port))
    client = H2Client(peer.port("listen"))
    try:
        response = client.request("POST", "/app?x=1", headers=(("x-secret", "s"),), body=b"abc",
                                  authority="example.com")
    finally:
        client.close()
    assert response.status == 200
    http = authz.last()[0].attributes.request.http
    assert (http.protocol, http.host, http.path, http.method) == ("HTTP/2", "example.com", "/app?x=1", "POST")
    assert http.headers[":authority"] == "example.com" and http.headers["x-secret"] == "s"
    assert seen(upstream.requests[-1], "x-user") == ["alice"]
