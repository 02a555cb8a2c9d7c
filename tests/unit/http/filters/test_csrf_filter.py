"""The CSRF filter, sans-IO."""
import pytest

from hotproxy.config.core import StringMatcher
from hotproxy.config.http_filters.csrf import CsrfPolicy
from hotproxy.http.filters import csrf
from hotproxy.http.filters.api import FilterContext

from filter_fakes import FakeRequest, FakeStream

ENFORCED = CsrfPolicy(filter_enabled=(100, 100))


def make(policy=ENFORCED):
    factory = csrf.factory(policy, FilterContext(None, "http.ingress.", None))
    factory.name = "envoy.filters.http.csrf"
    return factory


def run(factory, method=b"POST", headers=(), host=b"example.com", per_route=None):
    stream = FakeStream(FakeRequest(method=method, host=host, headers=list(headers)),
                        route=object(), per_route=per_route)
    filter_ = factory.create(stream)
    if filter_ is None:
        return "skipped"
    passed, _ = stream.run_request(filter_)
    return stream.local_reply[:2] if stream.local_reply else passed


def counts(factory):
    stats = factory.stats
    return stats.missing_source_origin, stats.request_invalid, stats.request_valid


@pytest.mark.parametrize("value, expected", [
    (b"http://example.com", b"example.com"), (b"https://example.com:8443/a?b", b"example.com:8443"),
    (b"null", b"null"), (b"example.com", b"example.com"), (b"http://u:p@h.example/x", b"h.example"),
    (None, b""), (b"", b""),
])
def test_host_and_port(value, expected):
    assert csrf.host_and_port(value) == expected


def test_stat_names():
    [(prefix, stats)] = make().stat_sets()
    assert prefix == "http.ingress.csrf."
    assert stats.counters == ("missing_source_origin", "request_invalid", "request_valid")


def test_safe_methods_are_skipped():
    factory = make()
    for method in (b"GET", b"HEAD", b"OPTIONS"):
        assert run(factory, method, [(b"origin", b"http://evil")]) == "skipped"


def test_same_origin_passes_other_origins_are_refused():
    factory = make()
    assert run(factory, b"POST", [(b"origin", b"http://example.com")]) is True
    assert run(factory, b"DELETE", [(b"origin", b"http://evil.example")]) == (403, b"Invalid origin")
    assert run(factory, b"PATCH", [(b"referer", b"http://example.com/page")]) is True
    assert counts(factory) == (0, 1, 2)


def test_missing_origin_is_refused_and_counted_as_missing():
    factory = make()
    assert run(factory, b"PUT") == (403, b"Invalid origin")
    assert counts(factory) == (1, 0, 0)     # as Envoy 1.40 counts it (probed)


def test_port_counts():
    factory = make()
    assert run(factory, headers=[(b"origin", b"http://example.com:8080")],
               host=b"example.com:8080") is True
    assert run(factory, headers=[(b"origin", b"http://example.com")],
               host=b"example.com:8080") == (403, b"Invalid origin")


def test_additional_origins():
    factory = make(CsrfPolicy(filter_enabled=(100, 100),
                              additional_origins=(StringMatcher("suffix", ".trusted.example"),)))
    assert run(factory, headers=[(b"origin", b"https://app.trusted.example")]) is True


def test_shadow_counts_without_refusing():
    factory = make(CsrfPolicy(filter_enabled=(0, 100), shadow_enabled=(100, 100)))
    assert run(factory, headers=[(b"origin", b"http://evil")]) is True
    assert counts(factory) == (0, 1, 0)
    off = make(CsrfPolicy(filter_enabled=(0, 100)))
    assert run(off, headers=[(b"origin", b"http://evil")]) is True
    assert counts(off) == (0, 0, 0)


def test_route_policy_replaces_the_filters():
    factory = make()
    route = {"envoy.filters.http.csrf": CsrfPolicy(filter_enabled=(0, 100))}
    assert run(factory, headers=[(b"origin", b"http://evil")], per_route=route) is True
    assert counts(factory) == (0, 0, 0)
