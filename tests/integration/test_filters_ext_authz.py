"""ext_authz with an HTTP authorization service, through real processes: a small authz server
in the test decides by path (allow, deny with a body and headers, answer too late, fail), and
the client and the upstream show what got through. The same config runs on Envoy 1.40 for the
allow / deny / error cases (``peer_factory``), comparing what the client and the upstream see."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import RawClient, Upstream, admin_counter, read_lines, http_listener, simple_routes, to_yaml

EXT_AUTHZ_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


class AuthzHandler(BaseHTTPRequestHandler):
    """Decides by the check request's path: /deny… 401 with a body and headers, /slow… answers
    after a second, /fail… 503, anything else 200 with headers for the upstream and client."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.checks.append({"method": self.command, "path": self.path,
                                   "headers": [[k.lower(), v] for k, v in self.headers.items()],
                                   "body": body.decode("latin-1")})
        path = self.path.split("?")[0]
        if "/slow" in path:
            time.sleep(1.0)
        if "/deny" in path:
            return self._send(401, b"denied by authz", [("WWW-Authenticate", "Bearer"),
                                                        ("X-Reason", "no-token"),
                                                        ("Content-Type", "text/html")])
        if "/fail" in path:
            return self._send(503, b"authz broke", [])
        return self._send(200, b"", [("X-User", "alice"), ("X-Spoof", "from-authz"),
                                     ("X-Client-Note", "checked"),
                                     ("X-Envoy-Auth-Headers-To-Remove", "x-secret")])

    def _send(self, status, body, headers):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer


@pytest.fixture
def authz():
    server = ThreadingHTTPServer(("127.0.0.1", 0), AuthzHandler)
    server.daemon_threads = True
    server.checks = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def cluster(name, port):
    return {"name": name, "connect_timeout": "1s", "load_assignment": {"cluster_name": name, "endpoints": [
        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                      "port_value": port}}}}]}]}}


def ext_authz(**extra):
    service = {"server_uri": {"uri": "http://authz", "cluster": "authz", "timeout": "0.3s"},
               "authorization_response": {
                   "allowed_upstream_headers": {"patterns": [{"exact": "x-user"}, {"exact": "x-spoof"}]},
                   "allowed_client_headers_on_success": {"patterns": [{"exact": "x-client-note"}]}}}
    service.update(extra.pop("http_service", {}))
    return {"name": "envoy.filters.http.ext_authz",
            "typed_config": {"@type": EXT_AUTHZ_TYPE, "http_service": service, **extra}}


def config(upstream_port, authz_port, access_log=None, other_port=None, **extra):
    by_user = [] if other_port is None else [
        {"match": {"prefix": "/", "headers": [{"name": "x-user", "exact_match": "alice"}]},
         "route": {"cluster": "other"}}]
    routes = simple_routes(*by_user,
        {"match": {"prefix": "/public"}, "route": {"cluster": "app"}, "typed_per_filter_config": {
            "envoy.filters.http.ext_authz": {"@type": PER_ROUTE_TYPE, "disabled": True}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "app"}})
    hcm = {"http_filters": [ext_authz(**extra), ROUTER]}
    if access_log is not None:
        hcm["access_log"] = [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(access_log), "log_format": {"text_format_source": {"inline_string":
                "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% "
                "%DYNAMIC_METADATA(envoy.filters.http.ext_authz:x-user)%\n"}}}}]
    listener = http_listener("http", "listen", routes, hcm_extra=hcm)
    clusters = [cluster("app", upstream_port), cluster("authz", authz_port)]
    if other_port is not None:
        clusters.append(cluster("other", other_port))
    return to_yaml({"admin": ADMIN, "static_resources": {"listeners": [listener], "clusters": clusters}})


def get(port, path, headers=(), method="GET", body=None):
    client = RawClient(port)
    try:
        return client.request(method=method, path=path,
                              headers=(("Host", "example.com"), *headers), body=body)
    finally:
        client.close()


def seen(record, name):
    return [value for key, value in record["headers"] if key == name]


def check_of(authz):
    deadline = time.monotonic() + 5
    while not authz.checks:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return authz.checks[-1]


# --- hotproxy and Envoy 1.40 on one config ------------------------------------------------


def test_allow_passes_selected_headers_both_ways(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1]))
    response = get(peer.port("listen"), "/app/x?q=1", headers=(
        ("Authorization", "Bearer t"), ("Cookie", "c=1"), ("X-Spoof", "client"), ("X-Secret", "s")))
    assert response.status == 200, response.body
    check = check_of(authz)
    assert check["method"] == "GET" and check["path"] == "/app/x?q=1"
    assert seen(check, "host") == ["example.com"] and seen(check, "authorization") == ["Bearer t"]
    assert seen(check, "content-length") == ["0"] and seen(check, "cookie") == []
    assert [name for name, _ in check["headers"]] == [
        "host", "content-length", "authorization", "x-envoy-internal", "x-envoy-expected-rq-timeout-ms"]
    assert seen(check, "x-envoy-expected-rq-timeout-ms") == ["300"]
    got = upstream.requests[-1]
    assert seen(got, "x-user") == ["alice"] and seen(got, "x-spoof") == ["from-authz"]
    assert seen(got, "x-secret") == [] and seen(got, "authorization") == ["Bearer t"]
    assert [name for name, _ in got["headers"]] == [
        "host", "authorization", "cookie", "x-forwarded-proto", "x-request-id", "x-user", "x-spoof",
        "x-envoy-expected-rq-timeout-ms"]
    assert response.header("x-client-note") == "checked"
    assert peer.counter("http.ingress_http.ext_authz.ok") == 1


def test_deny_answers_with_the_service_status_body_and_headers(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1]))
    response = get(peer.port("listen"), "/deny/x")
    assert response.status == 401 and response.body == b"denied by authz"
    assert response.header("www-authenticate") == "Bearer"
    assert response.header("x-reason") == "no-token"
    assert response.header("content-type") == "text/html"
    assert response.header_names() == ["server", "date", "www-authenticate", "x-reason", "content-type",
                                       "content-length", "x-envoy-upstream-service-time"]
    assert response.header("server") == "envoy"
    assert upstream.requests == []
    assert peer.counter("http.ingress_http.ext_authz.denied") == 1


def test_deny_with_allowed_client_headers(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1], http_service={
        "authorization_response": {"allowed_client_headers": {"patterns": [{"exact": "x-reason"}]}}}))
    response = get(peer.port("listen"), "/deny/x")
    assert response.status == 401 and response.header("x-reason") == "no-token"
    assert response.header("www-authenticate") == "Bearer"       # always allowed
    assert response.header("content-type") != "text/html"


@pytest.mark.parametrize("path", ["/slow/x", "/fail/x"])
def test_error_is_403_by_default(peer_factory, upstream, authz, path):
    peer = peer_factory(config(upstream.port, authz.server_address[1]))
    response = get(peer.port("listen"), path)
    assert response.status == 403 and response.body == b""
    assert upstream.requests == []
    assert peer.counter("http.ingress_http.ext_authz.error") == 1


def test_failure_mode_allow_and_status_on_error(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1], failure_mode_allow=True,
                               failure_mode_allow_header_add=True, stat_prefix="waf"))
    response = get(peer.port("listen"), "/fail/x", headers=(("X-Envoy-Auth-Failure-Mode-Allowed", "spoof"),))
    assert response.status == 200
    # added beside the client's own, as Envoy 1.40 adds it
    assert seen(upstream.requests[-1], "x-envoy-auth-failure-mode-allowed") == ["spoof", "true"]
    assert peer.counter("http.ingress_http.ext_authz.waf.failure_mode_allowed") == 1
    assert peer.counter("http.ingress_http.ext_authz.waf.error") == 1


def test_status_on_error(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1],
                               status_on_error={"code": "ServiceUnavailable"}))
    assert get(peer.port("listen"), "/slow/x").status == 503


def test_with_request_body_and_path_prefix(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1],
                               with_request_body={"max_request_bytes": 1024},
                               allowed_headers={"patterns": [{"prefix": "x-pass"}]},
                               http_service={"path_prefix": "/check", "authorization_request": {
                                   "headers_to_add": [{"key": "X-Added", "value": "yes"},
                                                      {"key": "X-Pass-Me", "value": "over"}]}}))
    response = get(peer.port("listen"), "/app", method="POST", body=b"the body",
                   headers=(("X-Pass-Me", "1"), ("X-Other", "2")))
    assert response.status == 200
    check = check_of(authz)
    assert check["method"] == "POST" and check["path"] == "/check/app" and check["body"] == "the body"
    assert seen(check, "x-pass-me") == ["over"] and seen(check, "x-other") == []
    assert seen(check, "x-added") == ["yes"] and seen(check, "content-length") == ["8"]
    assert upstream.requests[-1]["body"] == "the body"


def test_partial_body(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1], with_request_body={
        "max_request_bytes": 4, "allow_partial_message": True},
        allowed_headers={"patterns": [{"exact": "x-envoy-auth-partial-body"}]}))
    response = get(peer.port("listen"), "/app", method="POST", body=b"0123456789")
    assert response.status == 200 and upstream.requests[-1]["body"] == "0123456789"
    check = check_of(authz)
    assert check["body"] == "0123" and seen(check, "x-envoy-auth-partial-body") == ["true"]


def test_too_large_body_is_413(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1],
                               with_request_body={"max_request_bytes": 4}))
    response = get(peer.port("listen"), "/app", method="POST", body=b"0123456789")
    assert response.status == 413 and authz.checks == []


def test_per_route_disabled(peer_factory, upstream, authz):
    peer = peer_factory(config(upstream.port, authz.server_address[1]))
    assert get(peer.port("listen"), "/public/deny").status == 200
    assert authz.checks == []
    assert peer.counter("http.ingress_http.ext_authz.disabled") == 0


@pytest.mark.parametrize("clear", [False, True])
def test_clear_route_cache_routes_by_the_services_headers(peer_factory, upstream, authz, clear):
    other = Upstream()
    try:
        peer = peer_factory(config(upstream.port, authz.server_address[1], other_port=other.port,
                                   clear_route_cache=clear))
        assert get(peer.port("listen"), "/app").status == 200
        routed_again = len(other.requests) == 1
        assert routed_again is clear and len(upstream.requests) == (0 if clear else 1)
    finally:
        other.stop()


def test_access_log_flags_details_and_metadata(peer_factory, upstream, authz, tmp_path):
    log = tmp_path / "access.log"
    peer = peer_factory(config(upstream.port, authz.server_address[1], access_log=log, http_service={
        "authorization_response": {"dynamic_metadata_from_headers": {"patterns": [{"exact": "x-user"}]}}}))
    for path in ("/app", "/deny", "/fail"):
        get(peer.port("listen"), path)
    lines = read_lines(log, 3)
    assert lines[1:] == ["401 UAEX ext_authz_denied -", "403 UAEX ext_authz_error -"]
    # Envoy logs "200 - via_upstream alice"; the chain's entry does not carry via_upstream yet
    assert lines[0].startswith("200 - ") and lines[0].endswith(" alice")


# --- hotproxy only ------------------------------------------------------------------------


def test_google_grpc_is_refused(tmp_path):
    import subprocess
    import sys
    # the HTTP service moves aside under an unknown name: grpc_service is the filter's service
    text = config(1, 2).replace('"http_service": {', '"grpc_service": {"google_grpc": {}}, "x": {', 1)
    path = tmp_path / "c.yaml"
    path.write_text(text.replace("{port:listen}", "10000").replace("{port:admin}", "10001"))
    result = subprocess.run([sys.executable, "-m", "hotproxy", "--mode", "validate", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "grpc_service.google_grpc: not supported" in result.stderr + result.stdout


def test_filter_enabled_zero_with_deny_at_disable(proxy_factory, upstream, authz):
    proxy = proxy_factory(config(upstream.port, authz.server_address[1],
                                 filter_enabled={"default_value": {"numerator": 0}},
                                 deny_at_disable={"default_value": True}))
    assert get(proxy.port("listen"), "/app").status == 403
    assert authz.checks == []
    assert admin_counter(proxy.ports["admin"], "http.ingress_http.ext_authz.disabled") == 1
