"""The CORS filter, sans-IO: preflights answered here, simple requests' responses, shadow mode
and the origin stats."""
from hotproxy.config.core import StringMatcher
from hotproxy.config.http_filters.cors import CorsPolicy
from hotproxy.http.filters import cors
from hotproxy.http.filters.api import FilterContext

from filter_fakes import FakeRequest, FakeStream

ORIGIN = b"https://app.example"
POLICY = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", "https://app.example"),),
                    allow_methods="GET, PUT", allow_headers="x-token", expose_headers="x-trace",
                    max_age="600", allow_credentials=True)


def make(policy=POLICY):
    factory = cors.factory(None, FilterContext(None, "http.ingress.", None))
    factory.name = "envoy.filters.http.cors"
    return factory


def stream_for(policy, method=b"GET", headers=()):
    stream = FakeStream(FakeRequest(method=method, headers=list(headers)), route=object(),
                        per_route={"envoy.filters.http.cors": policy} if policy else None)
    return stream


def preflight(origin=ORIGIN, extra=()):
    return [(b"origin", origin), (b"access-control-request-method", b"PUT"), *extra]


def test_stats_are_envoys():
    factory = make()
    [(prefix, stats)] = factory.stat_sets()
    assert prefix == "http.ingress.cors." and set(stats.counters) == {"origin_valid", "origin_invalid"}


def test_no_policy_no_filter():
    factory = make()
    assert factory.create(stream_for(None, headers=[(b"origin", ORIGIN)])) is None
    no_route = FakeStream(FakeRequest(headers=[(b"origin", ORIGIN)]))
    assert factory.create(no_route) is None


def test_preflight_is_answered_with_the_policy():
    factory = make()
    stream = stream_for(POLICY, b"OPTIONS", preflight())
    filter_ = factory.create(stream)
    assert stream.run_request(filter_) == (None, b"")
    status, body, headers, details, _ = stream.local_reply
    assert (status, body, details) == (200, b"", "cors_response")
    assert headers == [(b"access-control-allow-origin", ORIGIN),
                       (b"access-control-allow-credentials", b"true"),
                       (b"access-control-allow-methods", b"GET, PUT"),
                       (b"access-control-allow-headers", b"x-token"),
                       (b"access-control-max-age", b"600")]
    assert factory.stats.origin_valid == 1


def test_wildcards_echo_the_request():
    policy = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", "*"),),
                        allow_methods="*", allow_headers="*", allow_private_network_access=True)
    stream = stream_for(policy, b"OPTIONS", preflight(b"https://any", [
        (b"access-control-request-headers", b"x-a, x-b"),
        (b"access-control-request-private-network", b"true")]))
    stream.run_request(make().create(stream))
    assert stream.local_reply[2] == [(b"access-control-allow-origin", b"https://any"),
                                     (b"access-control-allow-methods", b"PUT"),
                                     (b"access-control-allow-headers", b"x-a, x-b"),
                                     (b"access-control-allow-private-network", b"true")]


def test_preflight_from_another_origin_is_forwarded_or_answered():
    factory = make()
    stream = stream_for(POLICY, b"OPTIONS", preflight(b"https://evil"))
    assert stream.run_request(factory.create(stream)) == (True, b"")
    assert factory.stats.origin_invalid == 1
    strict = CorsPolicy(allow_origin_string_match=POLICY.allow_origin_string_match,
                        forward_not_matching_preflights=False, allow_methods="GET")
    stream = stream_for(strict, b"OPTIONS", preflight(b"https://evil"))
    stream.run_request(factory.create(stream))
    assert stream.local_reply[:3] == (200, b"", [(b"access-control-allow-methods", b"GET")])


def test_simple_request_gets_the_response_headers():
    factory = make()
    stream = stream_for(POLICY, b"GET", [(b"origin", ORIGIN)])
    filter_ = factory.create(stream)
    assert stream.run_request(filter_) == (True, b"")
    response, _ = stream.run_response(filter_, headers=[(b"access-control-allow-origin", b"*")])
    assert response.headers == [(b"access-control-allow-origin", ORIGIN),
                                (b"access-control-allow-credentials", b"true"),
                                (b"access-control-expose-headers", b"x-trace")]


def test_disallowed_origin_leaves_the_response_alone():
    factory = make()
    stream = stream_for(POLICY, b"GET", [(b"origin", b"https://evil")])
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    response, _ = stream.run_response(filter_, headers=[(b"x", b"y")])
    assert response.headers == [(b"x", b"y")]


def test_options_without_request_method_is_no_preflight():
    stream = stream_for(POLICY, b"OPTIONS", [(b"origin", ORIGIN)])
    assert stream.run_request(make().create(stream)) == (True, b"")


def test_shadow_mode_counts_only():
    shadow = CorsPolicy(allow_origin_string_match=POLICY.allow_origin_string_match,
                        filter_enabled=(0, 100), shadow_enabled=(100, 100))
    factory = make()
    stream = stream_for(shadow, b"OPTIONS", preflight())
    filter_ = factory.create(stream)
    assert stream.run_request(filter_) == (True, b"")
    response, _ = stream.run_response(filter_)
    assert response.headers == [] and factory.stats.origin_valid == 1
    off = CorsPolicy(allow_origin_string_match=POLICY.allow_origin_string_match,
                     filter_enabled=(0, 100))
    assert factory.create(stream_for(off, b"OPTIONS", preflight())) is None
