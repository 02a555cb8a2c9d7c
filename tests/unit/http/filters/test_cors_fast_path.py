"""What the CORS filter works out once per policy so that a request pays less (issue 18's
per-filter cost): the allowed origins as a set, the response headers after the origin, the policy
of the last stream. Each must decide as the general path."""
import pytest

from hotproxy.config.core import StringMatcher
from hotproxy.config.http_filters.cors import CorsPolicy
from hotproxy.http.filters import cors
from hotproxy.http.filters.api import FilterContext

from filter_fakes import FakeRequest, FakeStream

ORIGIN = b"https://app.example"
CORS = "envoy.filters.http.cors"


def policy(*matchers, **fields):
    return cors.Policy(CorsPolicy(allow_origin_string_match=matchers, **fields))


def test_exact_case_sensitive_origins_are_a_set():
    compiled = policy(StringMatcher("exact", "https://app.example"),
                      StringMatcher("exact", "https://admin.example"))
    assert compiled.exact_origins == {b"https://app.example", b"https://admin.example"}
    assert compiled.origin_allowed(b"https://admin.example")
    assert not compiled.origin_allowed(b"https://APP.example")
    assert not compiled.origin_allowed(b"https://app.example.evil")


@pytest.mark.parametrize("matchers, allowed, refused", [
    ((StringMatcher("exact", "https://app.example", ignore_case=True),),
     b"https://APP.example", b"https://other.example"),
    ((StringMatcher("exact", "https://a.example"), StringMatcher("suffix", ".example")),
     b"https://b.example", b"https://b.test"),
    ((StringMatcher("safe_regex", r"https://[a-z]+\.example"),),
     b"https://b.example", b"https://b.example:8443"),
])
def test_other_matchers_are_tested_one_by_one(matchers, allowed, refused):
    compiled = policy(*matchers)
    assert compiled.exact_origins is None
    assert compiled.origin_allowed(allowed) and not compiled.origin_allowed(refused)


@pytest.mark.parametrize("matcher", [StringMatcher("exact", "*"), StringMatcher("prefix", "")])
def test_a_matcher_of_star_allows_every_origin(matcher):
    compiled = policy(StringMatcher("exact", "https://app.example"), matcher)
    assert compiled.any_origin and compiled.exact_origins is None
    assert compiled.origin_allowed(b"https://anything.example")


@pytest.mark.parametrize("fields, after", [
    ({}, ()),
    ({"allow_credentials": True}, ((b"access-control-allow-credentials", b"true"),)),
    ({"allow_credentials": True, "expose_headers": "x-a"},
     ((b"access-control-allow-credentials", b"true"), (b"access-control-expose-headers", b"x-a"))),
])
def test_the_response_headers_after_the_origin(fields, after):
    assert policy(StringMatcher("exact", "x"), **fields).response_after_origin == after


def cors_response(upstream_headers, **fields):
    factory = cors.factory(None, FilterContext(None, "http.in.", None))
    factory.name = CORS
    config = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", ORIGIN.decode()),),
                        **fields)
    stream = FakeStream(FakeRequest(headers=[(b"origin", ORIGIN)]), route=object(),
                        per_route={CORS: config})
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    response, _ = stream.run_response(filter_, headers=upstream_headers)
    return response.headers


def test_a_response_without_cors_headers_gets_them_appended():
    assert cors_response([(b"content-length", b"2")], allow_credentials=True,
                         expose_headers="x-trace") == [
        (b"content-length", b"2"), (b"access-control-allow-origin", ORIGIN),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", b"x-trace")]


def test_an_upstream_cors_header_is_replaced_not_repeated():
    headers = cors_response([(b"access-control-allow-origin", b"*"), (b"content-length", b"2"),
                             (b"access-control-expose-headers", b"x-up")],
                            expose_headers="x-trace")
    assert headers == [(b"access-control-allow-origin", ORIGIN), (b"content-length", b"2"),
                       (b"access-control-expose-headers", b"x-trace")]


def test_the_policy_of_the_last_stream_is_reused_and_a_new_one_compiled():
    factory = cors.factory(None, FilterContext(None, "http.in.", None))
    factory.name = CORS
    one = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", ORIGIN.decode()),))
    two = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", "https://two.example"),))

    def allowed(config, origin):
        stream = FakeStream(FakeRequest(headers=[(b"origin", origin)]), route=object(),
                            per_route={CORS: config})
        filter_ = factory.create(stream)
        filter_.decode_headers(stream, True)
        return filter_.allowed_origin is not None
    assert allowed(one, ORIGIN) and allowed(one, ORIGIN)
    assert not allowed(two, ORIGIN) and allowed(two, b"https://two.example")
    assert allowed(one, ORIGIN) and not allowed(one, b"https://two.example")


def test_an_always_enabled_policy_gives_an_origin_s_requests_one_filter_that_counts_each():
    factory = cors.factory(None, FilterContext(None, "http.in.", None))
    factory.name = CORS
    config = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", ORIGIN.decode()),))

    def made(origin, method=b"GET"):
        stream = FakeStream(FakeRequest(method=method, headers=[(b"origin", origin)]),
                            route=object(), per_route={CORS: config})
        filter_ = factory.create(stream)
        filter_.decode_headers(stream, True)
        return filter_
    first, second, other = made(ORIGIN), made(ORIGIN), made(b"https://other.example")
    assert first is second and first.shared_by_streams and other is not first
    assert (first.allowed_origin, other.allowed_origin) == (ORIGIN, None)
    assert (factory.stats.origin_valid, factory.stats.origin_invalid) == (2, 1)


def test_a_drawn_policy_makes_a_filter_per_request():
    factory = cors.factory(None, FilterContext(None, "http.in.", None))
    factory.name = CORS
    config = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", ORIGIN.decode()),),
                        filter_enabled=(0, 100), shadow_enabled=(100, 100))
    made = []
    for _ in range(2):
        stream = FakeStream(FakeRequest(headers=[(b"origin", ORIGIN)]), route=object(),
                            per_route={CORS: config})
        made.append(factory.create(stream))
        made[-1].decode_headers(stream, True)
    assert made[0] is not made[1] and not made[0].shared_by_streams
    assert made[0].allowed_origin is None       # shadow only: the response gets nothing
    assert factory.stats.origin_valid == 2
