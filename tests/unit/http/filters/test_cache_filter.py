"""The cache filter, sans-IO: freshness and validation rules, Vary keys, the bounded store, and
the filter's hit / miss / 304 paths on a fake stream with a fake clock."""
from email.utils import formatdate

import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import cache as config_module
from hotproxy.http.filters import cache, cache_rules as rules
from hotproxy.http.filters.cache_store import CacheStore, Entry

from filter_fakes import FakeRequest, FakeStream

SIMPLE = {"@type": config_module.SIMPLE_HTTP_CACHE}
DATE = b"Sun, 06 Dec 2026 07:00:00 GMT"
T0 = rules.http_time(DATE)


def parsed(body):
    ctx = Context()
    return config_module.parse(Node(body, "f", ctx)), ctx.problems


def test_config():
    value, problems = parsed({"typed_config": SIMPLE, "allowed_vary_headers": [{"exact": "accept"}]})
    assert problems == [] and value.allowed_vary_headers[0].value == "accept"
    _, problems = parsed({})
    assert problems[0][0] == "f.typed_config" and "required" in problems[0][1]
    value, problems = parsed({"disabled": True})
    assert problems == [] and value.disabled
    _, problems = parsed({"typed_config": SIMPLE, "key_creator_params": {}})
    assert problems == [("f.key_creator_params", "not supported by hotproxy yet")]
    _, problems = parsed({"typed_config": {"@type": "type.googleapis.com/x.Y"}})
    assert problems[0][0] == "f.typed_config.@type"


# --- rules ---------------------------------------------------------------------------------


def cc(value):
    return [(b"cache-control", value), (b"date", DATE)]


@pytest.mark.parametrize("status, headers, cacheable", [
    (200, cc(b"max-age=10"), True),
    (200, cc(b"s-maxage=10, private"), False),
    (200, cc(b"no-store, max-age=10"), False),
    (200, cc(b"no-cache"), True),
    (200, [(b"date", DATE)], False),                                        # no lifetime
    (200, [(b"date", DATE), (b"expires", b"Sun, 06 Dec 2026 08:00:00 GMT")], True),
    (302, cc(b"max-age=10"), False),
    (404, cc(b"max-age=10"), True),
    (200, cc(b"max-age=10") + [(b"vary", b"accept")], True),
    (200, cc(b"max-age=10") + [(b"vary", b"cookie")], False),
    (200, cc(b"max-age=10") + [(b"vary", b"*")], False),
])
def test_response_is_cacheable(status, headers, cacheable):
    assert rules.response_is_cacheable(status, headers, lambda name: name == b"accept") is cacheable


def test_request_is_cacheable():
    assert rules.request_is_cacheable(b"GET", [])
    assert rules.request_is_cacheable(b"HEAD", [])
    assert not rules.request_is_cacheable(b"POST", [])
    assert not rules.request_is_cacheable(b"GET", [(b"authorization", b"x")])
    assert not rules.request_is_cacheable(b"GET", [(b"range", b"bytes=0-1")])


def test_lifetime_prefers_s_maxage_then_max_age_then_expires():
    assert rules.freshness_lifetime(cc(b"max-age=5, s-maxage=7")) == 7
    assert rules.freshness_lifetime(cc(b"max-age=5")) == 5
    assert rules.freshness_lifetime([(b"date", DATE),
                                     (b"expires", b"Sun, 06 Dec 2026 07:01:00 GMT")]) == 60
    assert rules.freshness_lifetime([(b"date", DATE), (b"expires", b"0")]) == 0


def test_age():
    headers = [(b"date", DATE), (b"age", b"3")]
    assert rules.current_age(headers, T0, T0 + 10) == 13
    assert rules.current_age([(b"date", DATE)], T0 + 2, T0 + 5) == 5      # apparent age 2 + 3


@pytest.mark.parametrize("request_cc, response_cc, age, validate", [
    (b"", b"max-age=10", 5, False),
    (b"", b"max-age=10", 11, True),
    (b"", b"no-cache, max-age=10", 0, True),
    (b"no-cache", b"max-age=10", 0, True),
    (b"max-age=3", b"max-age=10", 5, True),
    (b"max-stale=5", b"max-age=10", 12, False),
    (b"max-stale=5", b"max-age=10, must-revalidate", 12, True),
    (b"min-fresh=6", b"max-age=10", 5, True),
])
def test_requires_validation(request_cc, response_cc, age, validate):
    request = rules.request_control([(b"cache-control", request_cc)] if request_cc else [])
    assert rules.requires_validation(request, cc(response_cc), age) is validate


def test_pragma_no_cache_only_without_cache_control():
    assert rules.request_control([(b"pragma", b"no-cache")]).no_cache
    assert not rules.request_control([(b"pragma", b"no-cache"), (b"cache-control", b"max-age=1")]).no_cache


def test_vary_key_and_validators_and_update():
    assert rules.vary_names([(b"vary", b"Accept, accept-encoding"), (b"vary", b"x")]) == (
        b"accept", b"accept-encoding", b"x")
    assert rules.vary_key((b"accept", b"x"), [(b"accept", b"a"), (b"accept", b"b")]) == (b"a,b", None)
    assert rules.validators([(b"etag", b'"1"'), (b"last-modified", DATE)]) == [
        (b"if-none-match", b'"1"'), (b"if-modified-since", DATE)]
    assert rules.validators([(b"date", DATE)]) == [(b"if-modified-since", DATE)]
    assert rules.updated_headers([(b"a", b"1"), (b"content-length", b"5"), (b"b", b"2")],
                                 [(b"a", b"3"), (b"etag", b"f"), (b"content-length", b"0")]) == [
        (b"a", b"3"), (b"etag", b"f"), (b"content-length", b"5"), (b"b", b"2")]


# --- store ---------------------------------------------------------------------------------


def entry(body=b"x", vary=(), key=()):
    return Entry(200, [], body, 0.0, vary, key)


def test_store_lru_by_entries_and_bytes():
    store = CacheStore(max_bytes=10_000, max_entries=2)
    store.insert("a", entry())
    store.insert("b", entry())
    store.lookup("a", ())
    store.insert("c", entry())
    assert store.lookup("b", ()) is None and store.lookup("a", ()) and len(store) == 2
    store = CacheStore(max_bytes=4000, max_entries=100)
    assert not store.insert("big", entry(b"x" * 1001))         # over a quarter of the budget
    for name in "abcdefghij":
        store.insert(name, entry(b"x" * 700))
    assert store.size <= 4000 and store.lookup("j", ()) and store.lookup("a", ()) is None


def test_store_variants():
    store = CacheStore()
    store.insert("k", entry(b"1", (b"accept",), (b"a",)))
    store.insert("k", entry(b"2", (b"accept",), (b"b",)))
    assert store.vary_of("k") == (b"accept",) and store.lookup("k", (b"a",)).body == b"1"
    store.insert("k", entry(b"3", (b"x",), (b"c",)))       # varies on another header now
    assert store.lookup("k", (b"a",)) is None and len(store) == 1
    store.remove("k", (b"c",))
    assert store.vary_of("k") is None and store.size == 0


# --- the filter ----------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def make(**fields):
    config, problems = parsed({"typed_config": SIMPLE, **fields})
    assert problems == []
    clock = Clock()
    return cache.CacheFactory(config, None, clock=clock), clock


def origin(stream, filter_, status=200, headers=(), body=b"hello"):
    return stream.run_response(filter_, status, [(b"date", DATE), *headers], [body] if body else [])


def hit(factory, method=b"GET", headers=()):
    stream = FakeStream(FakeRequest(method, b"/a", headers=list(headers)))
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    if stream.local_reply is None:
        return stream, filter_, None
    status, body = stream.local_reply[:2]
    stream.local_reply = None
    response, data = stream.run_response(filter_, status, [(b"content-type", b"text/plain")], [body])
    return stream, filter_, (response, data)


def test_miss_then_hit_with_age_then_stale_validation_304():
    factory, clock = make()
    stream, filter_, served = hit(factory)
    assert served is None
    origin(stream, filter_, headers=[(b"cache-control", b"max-age=10"), (b"etag", b'"v1"')])
    clock.now += 4
    _, _, (response, data) = hit(factory)
    assert response.status == 200 and data == b"hello"
    assert (b"age", b"4") in response.headers and (b"etag", b'"v1"') in response.headers
    clock.now += 10
    stream, filter_, served = hit(factory)
    assert served is None and (b"if-none-match", b'"v1"') in stream.request.headers
    # the chain gives a filter that held a bodiless head the end as data (b"", end)
    now = formatdate(clock.now, usegmt=True).encode()
    response, data = stream.run_response(filter_, 304, [(b"date", now), (b"x-new", b"1")], [b""])
    assert response.status == 200 and data == b"hello" and (b"x-new", b"1") in response.headers
    assert not any(name == b"age" for name, _ in response.headers)     # as Envoy serves it
    _, _, (response, data) = hit(factory)                  # refreshed: fresh again
    assert data == b"hello" and (b"age", b"0") in response.headers


def test_vary_keeps_one_response_per_request_value():
    factory, _ = make(allowed_vary_headers=[{"exact": "accept"}])
    for accept in (b"a", b"b"):
        stream, filter_, served = hit(factory, headers=[(b"accept", accept)])
        assert served is None
        origin(stream, filter_, headers=[(b"cache-control", b"max-age=10"), (b"vary", b"accept")],
               body=b"body-" + accept)
    _, _, (_, data) = hit(factory, headers=[(b"accept", b"b")])
    assert data == b"body-b"
    _, _, served = hit(factory, headers=[(b"accept", b"c")])
    assert served is None


def test_not_stored_when_incomplete_uncacheable_or_too_big():
    factory, _ = make(max_body_bytes=4)
    stream, filter_, _ = hit(factory)
    origin(stream, filter_, headers=[(b"cache-control", b"max-age=10")])      # 5 bytes > 4
    assert len(factory.store) == 0
    factory, _ = make()
    stream, filter_, _ = hit(factory)
    filter_.encode_headers(stream, type("R", (), {"status": 200, "headers": [
        (b"date", DATE), (b"cache-control", b"max-age=10")]})(), False)
    filter_.encode_data(stream, b"part", False)
    filter_.on_stream_end(stream)
    assert len(factory.store) == 0
    stream, filter_, _ = hit(factory)
    origin(stream, filter_, headers=[(b"cache-control", b"no-store")])
    assert len(factory.store) == 0


def test_head_is_served_but_not_stored_and_post_bypasses():
    factory, _ = make()
    stream, filter_, _ = hit(factory, method=b"HEAD")
    origin(stream, filter_, headers=[(b"cache-control", b"max-age=10")], body=b"")
    assert len(factory.store) == 0
    stream, filter_, _ = hit(factory)
    origin(stream, filter_, headers=[(b"cache-control", b"max-age=10")])
    _, _, served = hit(factory, method=b"HEAD")
    assert served is not None
    _, _, served = hit(factory, method=b"POST")
    assert served is None


def test_request_no_cache_validates_unless_ignored():
    for ignore, validated in ((False, True), (True, False)):
        factory, _ = make(ignore_request_cache_control_header=ignore)
        stream, filter_, _ = hit(factory)
        origin(stream, filter_, headers=[(b"cache-control", b"max-age=10"), (b"etag", b"e")])
        _, _, served = hit(factory, headers=[(b"cache-control", b"no-cache")])
        assert (served is None) is validated


def test_disabled_stays_out():
    factory, _ = make(disabled=True)
    assert factory.create(FakeStream()) is None
