"""The RBAC filters through real processes, hotproxy and (where installed) Envoy 1.40 on the same
config: HTTP rules on headers, paths and the remote address, the 403 Envoy sends, shadow rules in
the access log, a mutual-TLS principal; the network filter in front of a TCP proxy."""
from __future__ import annotations

import socket
import time

import pytest
from certs import CA

from harness import HCM_TYPE, ROUTER_TYPE, TCP_PROXY_TYPE, accept_each, read_lines, simple_routes, static_cluster, to_yaml
from raw_upstream import RecordingUpstream
from tls_harness import downstream_tls, get_over, tls_client

HTTP_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
NETWORK_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
ROUTER = {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}
ADMIN = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}}
LOG_FORMAT = ("%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% "
              "%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_effective_policy_id)% "
              "%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)%\n")
# The HTTP filter chain runs filters other than the router once the connection manager has it.
def listener(name, filters, transport_socket=None):
    chain = {"filters": filters}
    if transport_socket is not None:
        chain["transport_socket"] = transport_socket
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": f"{{port:{name}}}"}},
            "filter_chains": [chain]}


def hcm(rbac, log_path=None, routes=None, extra=None):
    config = {"@type": HCM_TYPE, "stat_prefix": "ingress",
              "route_config": routes or simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}}),
              "http_filters": [{"name": "envoy.filters.http.rbac", "typed_config": {"@type": HTTP_RBAC, **rbac}},
                               ROUTER], **(extra or {})}
    if log_path is not None:
        config["access_log"] = [{"name": "file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(log_path), "log_format": {"text_format_source": {"inline_string": LOG_FORMAT}}}}]
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def http_config(rbac, upstream_port, log_path=None, transport_socket=None, routes=None, hcm_extra=None):
    return to_yaml({**ADMIN, "static_resources": {
        "listeners": [listener("listen", [hcm(rbac, log_path, routes, hcm_extra)], transport_socket)],
        "clusters": [static_cluster("backend", upstream_port)]}})


def get(port, path="/", headers=()):
    """(status, headers dict, body) of one GET on a fresh connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        extra = b"".join(b"%s: %s\r\n" % (name.encode(), value.encode()) for name, value in headers)
        return get_over(sock, path, host="example.com", extra=extra)


def wait_for(read, expected, timeout=5.0):
    deadline = time.monotonic() + timeout
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


POLICIES = {
    "admin-by-header": {"permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
                        "principals": [{"header": {"name": "x-role", "string_match": {"exact": "admin"}}}]},
    "public": {"permissions": [{"url_path": {"path": {"prefix": "/public"}}}],
               "principals": [{"remote_ip": {"address_prefix": "127.0.0.0", "prefix_len": 8}}]},
    "nobody-from-elsewhere": {"permissions": [{"url_path": {"path": {"prefix": "/private"}}}],
                              "principals": [{"remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}]},
}


def test_allow_by_header_path_and_remote_ip_and_the_403(peer_factory):
    upstream = RecordingUpstream()
    peer = peer_factory(http_config({"rules": {"action": "ALLOW", "policies": POLICIES}}, upstream.port))
    port = peer.port("listen")
    assert get(port, "/public/a?x=1")[0] == 200
    assert get(port, "/admin/users", [("x-role", "admin")])[0] == 200
    status, headers, body = get(port, "/admin/users", [("x-role", "guest")])
    assert (status, body) == (403, b"RBAC: access denied")
    assert headers["content-type"] == "text/plain" and headers["content-length"] == "19"
    assert get(port, "/private")[0] == 403
    assert [r.target for r in upstream.requests] == [b"/public/a?x=1", b"/admin/users"]
    assert wait_for(lambda: peer.counter("http.ingress.rbac.allowed"), 2) == 2
    assert peer.counter("http.ingress.rbac.denied") == 2


def test_remote_ip_is_the_forwarded_client_and_direct_remote_ip_the_peer(peer_factory):
    upstream = RecordingUpstream()
    ten = {"address_prefix": "10.0.0.0", "prefix_len": 8}
    rules = {"policies": {
        "forwarded": {"permissions": [{"url_path": {"path": {"exact": "/remote"}}}], "principals": [{"remote_ip": ten}]},
        "direct": {"permissions": [{"url_path": {"path": {"exact": "/direct"}}}], "principals": [{"direct_remote_ip": ten}]}}}
    peer = peer_factory(http_config({"rules": rules}, upstream.port))
    port = peer.port("listen")
    forwarded = [("x-forwarded-for", "192.168.1.1, 10.1.2.3")]
    assert get(port, "/remote", forwarded)[0] == 200
    assert get(port, "/remote")[0] == 403
    assert get(port, "/direct", forwarded)[0] == 403


@pytest.mark.parametrize("hops, expected", [(0, 403), (1, 200)])
def test_remote_ip_with_use_remote_address(peer_factory, hops, expected):
    upstream = RecordingUpstream()
    rules = {"policies": {"forwarded": {"permissions": [{"any": True}], "principals": [
        {"remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}]}}}
    peer = peer_factory(http_config({"rules": rules}, upstream.port,
                                    hcm_extra={"use_remote_address": True, "xff_num_trusted_hops": hops}))
    assert get(peer.port("listen"), "/", [("x-forwarded-for", "192.168.1.1, 10.1.2.3")])[0] == expected


def test_deny_action_a_stat_prefix_and_per_rule_stats(peer_factory):
    upstream = RecordingUpstream()
    rules = {"action": "DENY", "policies": {"admin": POLICIES["admin-by-header"]}}
    peer = peer_factory(http_config({"rules": rules, "rules_stat_prefix": "edge_", "track_per_rule_stats": True},
                                    upstream.port))
    port = peer.port("listen")
    assert get(port, "/admin", [("x-role", "admin")])[0] == 403
    assert get(port, "/admin", [("x-role", "guest")])[0] == 200
    assert get(port, "/other", [("x-role", "admin")])[0] == 200
    assert wait_for(lambda: peer.counter("http.ingress.rbac.edge_.denied"), 1) == 1
    assert peer.counter("http.ingress.rbac.edge_.allowed") == 2
    assert peer.counter("http.ingress.rbac.edge_.policy.admin.denied") == 1


def test_shadow_rules_are_logged_never_enforced(peer_factory, tmp_path):
    upstream = RecordingUpstream()
    log_path = tmp_path / "access.log"
    rbac = {"shadow_rules": {"action": "ALLOW", "policies": POLICIES}}
    peer = peer_factory(http_config(rbac, upstream.port, log_path))
    port = peer.port("listen")
    assert get(port, "/public")[0] == 200
    assert get(port, "/private")[0] == 200
    lines = read_lines(log_path, 2)
    assert lines == ["200 via_upstream public allowed", "200 via_upstream - denied"]
    assert wait_for(lambda: peer.counter("http.ingress.rbac.shadow_denied"), 1) == 1
    assert peer.counter("http.ingress.rbac.shadow_allowed") == 1
    assert peer.counter("http.ingress.rbac.denied") == 0


def test_a_route_replaces_the_rules(peer_factory):
    upstream = RecordingUpstream()
    per_route = {"envoy.filters.http.rbac": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute",
        "rbac": {"rules": {"policies": {"get": {"permissions": [{"header": {
            "name": ":method", "string_match": {"exact": "GET"}}}], "principals": [{"any": True}]}}}}}}
    routes = simple_routes({"match": {"prefix": "/open"}, "route": {"cluster": "backend"},
                            "typed_per_filter_config": per_route},
                           {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    deny_all = {"rules": {"action": "DENY", "policies": {"all": {
        "permissions": [{"any": True}], "principals": [{"any": True}]}}}}
    peer = peer_factory(http_config(deny_all, upstream.port, routes=routes))
    port = peer.port("listen")
    assert get(port, "/open/a")[0] == 200
    assert get(port, "/closed")[0] == 403
    assert wait_for(lambda: peer.counter("http.ingress.rbac.denied"), 1) == 1
    assert peer.counter("http.ingress.rbac.allowed") == 1


@pytest.fixture(scope="module")
def pki():
    ca = CA()
    server = ca.issue("proxy", dns=["proxy.example.com"])
    web = ca.issue("web", uris=["spiffe://example.org/ns/default/sa/web"], client=True, server=False)
    batch = ca.issue("batch", dns=["batch.example.org"], client=True, server=False)
    return ca, server, web, batch


def test_authenticated_principal_over_mutual_tls(peer_factory, pki, tmp_path):
    ca, server, web, batch = pki
    upstream = RecordingUpstream()
    rbac = {"rules": {"policies": {"web": {"permissions": [{"any": True}], "principals": [
        {"authenticated": {"principal_name": {"exact": "spiffe://example.org/ns/default/sa/web"}}},
        {"authenticated": {"principal_name": {"exact": "CN=batch"}}}]}}}}
    peer = peer_factory(http_config(rbac, upstream.port, transport_socket=downstream_tls(server, ca=ca)))
    port = peer.port("listen")
    for certificate, expected in ((web, 200), (batch, 200), (None, 403)):
        with tls_client(port, ca, certificate=certificate, tmp_path=tmp_path) as sock:
            assert get_over(sock, "/")[0] == expected, certificate


# --- the network filter ------------------------------------------------------------------------

class Echo:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._echo)

    @staticmethod
    def _echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


def tcp_listener(name, rbac):
    return listener(name, [
        {"name": "envoy.filters.network.rbac", "typed_config": {"@type": NETWORK_RBAC, **rbac}},
        {"name": "envoy.filters.network.tcp_proxy",
         "typed_config": {"@type": TCP_PROXY_TYPE, "stat_prefix": name, "cluster": "backend"}}])


def exchange(port):
    """What comes back for b"ping" on a fresh connection (b"" when the proxy closes it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(b"ping")
            return sock.recv(100)
        except ConnectionResetError:
            return b""


def test_network_rbac_in_front_of_a_tcp_proxy(peer_factory):
    echo = Echo()
    local = {"permissions": [{"destination_port_range": {"start": 1, "end": 65536}}],
             "principals": [{"source_ip": {"address_prefix": "127.0.0.1", "prefix_len": 32}}]}
    config = to_yaml({**ADMIN, "static_resources": {"listeners": [
        tcp_listener("listen_open", {"stat_prefix": "open", "rules": {"policies": {"local": local}},
                                     "shadow_rules": {"action": "DENY", "policies": {"local": local}},
                                     "shadow_rules_stat_prefix": "sh_"}),
        tcp_listener("listen_closed", {"stat_prefix": "closed.",
                                       "rules": {"action": "DENY", "policies": {"local": local}}}),
    ], "clusters": [static_cluster("backend", echo.port)]}})
    peer = peer_factory(config)
    # the readiness probe (a connection closed without a byte) was checked too, at its close
    counters = ("open.rbac.allowed", "open.rbac.sh_.shadow_denied", "closed.rbac.denied", "closed.rbac.allowed")
    wait_for(lambda: (peer.counter("open.rbac.allowed"), peer.counter("closed.rbac.denied")), (1, 1))
    before = {name: peer.counter(name) for name in counters}
    assert exchange(peer.port("listen_open")) == b"ping"
    assert exchange(peer.port("listen_closed")) == b""
    expected = {name: before[name] + 1 for name in counters[:3]} | {"closed.rbac.allowed": 0}
    assert wait_for(lambda: {name: peer.counter(name) for name in counters}, expected) == expected


def test_network_rbac_authenticated_on_a_tls_terminating_tcp_proxy(peer_factory, pki, tmp_path):
    ca, server, web, batch = pki
    echo = Echo()
    rbac = {"stat_prefix": "mtls", "rules": {"policies": {"web": {
        "permissions": [{"any": True}],
        "principals": [{"authenticated": {"principal_name": {"prefix": "spiffe://example.org/"}}}]}}}}
    tcp = tcp_listener("listen", rbac)
    tcp["filter_chains"][0]["transport_socket"] = downstream_tls(server, ca=ca)
    peer = peer_factory(to_yaml({**ADMIN, "static_resources": {
        "listeners": [tcp], "clusters": [static_cluster("backend", echo.port)]}}))
    before = wait_for(lambda: peer.counter("mtls.rbac.allowed"), 0)    # a probe is no TLS peer
    for certificate, expected in ((web, b"ping"), (batch, b"")):
        with tls_client(peer.port("listen"), ca, certificate=certificate, tmp_path=tmp_path) as sock:
            try:
                sock.sendall(b"ping")
                assert sock.recv(100) == expected
            except (ConnectionResetError, OSError):
                assert expected == b""
    assert wait_for(lambda: peer.counter("mtls.rbac.denied"), 1) == 1
    assert peer.counter("mtls.rbac.allowed") == 1 + before
