"""The local_ratelimit HTTP filter, sans-IO: enabling and enforcing, descriptors from the
route's rate_limits, the 429 and its headers, x-ratelimit-*, per-route configs and buckets per
connection."""
import random
from types import SimpleNamespace

import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import local_ratelimit as config_module
from hotproxy.config.rate_limit import RateLimit, RateLimitAction
from hotproxy.config.route import Route, RouteAction, RouteMatch
from hotproxy.http.filters import local_ratelimit
from hotproxy.http.filters.route_policy import drawer
from hotproxy.http.filters.api import CONTINUE, FilterContext
from hotproxy import token_bucket
from filter_fakes import FakeConnection, FakeRequest, FakeStream

ALWAYS = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "x"}


@pytest.fixture(autouse=True)
def fresh_buckets():
    token_bucket.share_through(None)


def parse(body, per_route=False, path="lrl"):
    ctx = Context()
    parsed = (config_module.parse_per_route if per_route else config_module.parse)(
        Node(body, path, ctx))
    assert not ctx.problems, ctx.problems
    return parsed


def make_factory(body=None, **fields):
    body = dict(body or {"stat_prefix": "rl", "token_bucket": {"max_tokens": 2, "fill_interval": "60s"},
                         "filter_enabled": ALWAYS, "filter_enforced": ALWAYS}, **fields)
    context = FilterContext(None, "http.in.", SimpleNamespace(service_cluster="svc"))
    factory = local_ratelimit.factory(parse(body), context)
    factory.name = "rl"
    return factory


def compiled_route(rate_limits=(), vhost_rate_limits=(), include_vh=False, cluster="backend"):
    route = Route(match=RouteMatch("prefix", "/"),
                  route=RouteAction(cluster=cluster, rate_limits=rate_limits,
                                    include_vh_rate_limits=include_vh))
    return SimpleNamespace(config=route, cluster_name=cluster, vhost_rate_limits=vhost_rate_limits)


def request(factory, headers=(), route=None, connection=None, per_route=None):
    stream = FakeStream(FakeRequest(headers=list(headers)), route=route or compiled_route(),
                        per_route=per_route, connection=connection)
    filter_ = factory.create(stream)
    if filter_ is None:
        return stream, None
    passed, _ = stream.run_request(filter_)
    return stream, filter_


def statuses(factory, count, **kwargs):
    return [(request(factory, **kwargs)[0].local_reply or (200,))[0] for _ in range(count)]


def stats(factory, prefix="rl"):
    s = dict(factory.stat_sets())[f"{prefix}.http_local_rate_limit."]
    return {name: getattr(s, name) for name in ("enabled", "enforced", "rate_limited", "ok")}


def test_enforced_limit_answers_429_local_rate_limited():
    factory = make_factory()
    assert statuses(factory, 3) == [200, 200, 429]
    stream, _ = request(factory)
    status, body, headers, details, flag = stream.local_reply
    assert (status, body, details, flag) == (429, b"local_rate_limited", "local_rate_limited", "RL")
    assert stats(factory) == {"enabled": 4, "enforced": 2, "rate_limited": 2, "ok": 2}


def test_without_filter_enabled_the_filter_stays_out():
    body = {"stat_prefix": "rl", "token_bucket": {"max_tokens": 1, "fill_interval": "60s"}}
    factory = make_factory(body)
    assert statuses(factory, 3) == [200, 200, 200]
    assert stats(factory) == {"enabled": 0, "enforced": 0, "rate_limited": 0, "ok": 0}


def test_not_enforced_counts_and_adds_request_headers():
    factory = make_factory(filter_enforced=None, token_bucket={"max_tokens": 1, "fill_interval": "60s"},
                           request_headers_to_add_when_not_enforced=[
                               {"header": {"key": "x-limited", "value": "yes"}}])
    first, _ = request(factory)
    second, _ = request(factory)
    assert first.local_reply is None and second.local_reply is None
    assert (b"x-limited", b"yes") not in first.request.headers
    assert (b"x-limited", b"yes") in second.request.headers
    assert stats(factory) == {"enabled": 2, "enforced": 0, "rate_limited": 1, "ok": 1}


def test_status_response_headers_and_a_status_under_400():
    factory = make_factory(status={"code": "ServiceUnavailable"},
                           token_bucket={"max_tokens": 1, "fill_interval": "60s"},
                           response_headers_to_add=[{"header": {"key": "x-rl", "value": "1"}}])
    request(factory)
    stream, _ = request(factory)
    assert stream.local_reply[0] == 503
    assert (b"x-rl", b"1") in stream.local_reply[2]
    assert parse({"stat_prefix": "p", "status": {"code": 302}}).status == 429


def test_x_ratelimit_headers():
    factory = make_factory(enable_x_ratelimit_headers="DRAFT_VERSION_03",
                           token_bucket={"max_tokens": 2, "fill_interval": "60s"})
    stream, filter_ = request(factory)
    response, _ = stream.run_response(filter_, headers=[(b"content-length", b"0")])
    assert response.headers[1:] == [(b"x-ratelimit-limit", b"2"), (b"x-ratelimit-remaining", b"1"),
                                    (b"x-ratelimit-reset", b"0")]
    request(factory)
    stream, filter_ = request(factory)                       # refused: its 429 carries them too
    assert stream.local_reply[0] == 429
    stream.local_reply = None
    response, _ = stream.run_response(filter_, status=429)
    assert dict(response.headers)[b"x-ratelimit-remaining"] == b"0"
    assert dict(response.headers)[b"x-ratelimit-reset"] == b"60"       # a token a minute


USER = RateLimit(actions=(RateLimitAction("request_headers", key="user", header="x-user"),))
GENERIC = RateLimit(actions=(RateLimitAction("generic_key", key="generic_key", value="all"),))


def descriptor(entries, max_tokens):
    return {"entries": [{"key": k, "value": v} for k, v in entries],
            "token_bucket": {"max_tokens": max_tokens, "fill_interval": "60s"}}


def test_descriptors_from_route_rate_limits():
    factory = make_factory(token_bucket={"max_tokens": 100, "fill_interval": "60s"},
                           descriptors=[descriptor([("user", "alice")], 1),
                                        descriptor([("user", "bob")], 2)])
    route = compiled_route(rate_limits=(USER,))
    alice = [(b"x-user", b"alice")]
    bob = [(b"x-user", b"bob")]
    assert statuses(factory, 2, headers=alice, route=route) == [200, 429]
    assert statuses(factory, 3, headers=bob, route=route) == [200, 200, 429]
    assert statuses(factory, 3, headers=[(b"x-user", b"carol")], route=route) == [200, 200, 200]
    assert statuses(factory, 1, route=route) == [200]          # no header: no descriptor


def test_always_consume_default_token_bucket():
    body = dict(stat_prefix="rl", filter_enabled=ALWAYS, filter_enforced=ALWAYS,
                token_bucket={"max_tokens": 1, "fill_interval": "60s"},
                descriptors=[descriptor([("generic_key", "all")], 5)])
    route = compiled_route(rate_limits=(GENERIC,))
    assert statuses(make_factory(body), 2, route=route) == [200, 429]
    token_bucket.share_through(None)
    relaxed = make_factory(dict(body, always_consume_default_token_bucket=False))
    assert statuses(relaxed, 6, route=route) == [200] * 5 + [429]


def test_the_slowest_descriptor_bucket_is_taken_first():
    both = RateLimit(actions=(RateLimitAction("generic_key", key="a", value="1"),))
    other = RateLimit(actions=(RateLimitAction("generic_key", key="b", value="1"),))
    factory = make_factory(token_bucket={"max_tokens": 100, "fill_interval": "60s"},
                           descriptors=[descriptor([("a", "1")], 3),
                                        {"entries": [{"key": "b", "value": "1"}],
                                         "token_bucket": {"max_tokens": 1, "fill_interval": "600s"}}])
    route = compiled_route(rate_limits=(both, other))
    assert statuses(factory, 2, route=route) == [200, 429]
    # "a" kept its tokens: the slow bucket refused before it was asked
    assert factory.limiter.buckets(None)[1][(("a", "1"),)].remaining() == 2


def test_virtual_host_rate_limits_override_include_ignore():
    vhost = (GENERIC,)
    limited = [descriptor([("generic_key", "all")], 1)]
    route_own = compiled_route(rate_limits=(USER,), vhost_rate_limits=vhost)
    route_none = compiled_route(vhost_rate_limits=vhost)
    big = {"max_tokens": 100, "fill_interval": "60s"}
    override = make_factory(token_bucket=big, descriptors=limited)
    assert statuses(override, 2, route=route_none) == [200, 429]
    assert statuses(override, 2, route=route_own) == [200, 200]       # the route's own win
    token_bucket.share_through(None)
    include = make_factory(token_bucket=big, descriptors=limited, vh_rate_limits="INCLUDE")
    assert statuses(include, 2, route=route_own) == [200, 429]
    token_bucket.share_through(None)
    ignore = make_factory(token_bucket=big, descriptors=limited, vh_rate_limits="IGNORE")
    assert statuses(ignore, 2, route=route_none) == [200, 200]
    token_bucket.share_through(None)
    by_route = make_factory(token_bucket=big, descriptors=limited, vh_rate_limits="IGNORE")
    included = compiled_route(rate_limits=(USER,), vhost_rate_limits=vhost, include_vh=True)
    assert statuses(by_route, 2, route=included) == [200, 429]


def test_stage_and_disable_key():
    staged = RateLimit(stage=1, actions=GENERIC.actions)
    disabled = RateLimit(disable_key="off", actions=GENERIC.actions)
    limited = [descriptor([("generic_key", "all")], 1)]
    big = {"max_tokens": 100, "fill_interval": "60s"}
    factory = make_factory(token_bucket=big, descriptors=limited)
    assert statuses(factory, 2, route=compiled_route(rate_limits=(staged, disabled))) == [200, 200]
    token_bucket.share_through(None)
    stage1 = make_factory(token_bucket=big, descriptors=limited, stage=1)
    assert statuses(stage1, 2, route=compiled_route(rate_limits=(staged,))) == [200, 429]


@pytest.mark.parametrize("action, connection, expected", [
    (RateLimitAction("remote_address", key="remote_address"), FakeConnection("10.1.2.3"),
     ("remote_address", "10.1.2.3")),
    (RateLimitAction("masked_remote_address", key="masked_remote_address", v4_prefix_mask_len=16),
     FakeConnection("10.1.2.3"), ("masked_remote_address", "10.1.0.0/16")),
    (RateLimitAction("source_cluster", key="source_cluster"), None, ("source_cluster", "svc")),
    (RateLimitAction("destination_cluster", key="destination_cluster"), None,
     ("destination_cluster", "backend")),
])
def test_actions(action, connection, expected):
    factory = make_factory(token_bucket={"max_tokens": 100, "fill_interval": "60s"},
                           descriptors=[descriptor([expected], 1)])
    route = compiled_route(rate_limits=(RateLimit(actions=(action,)),))
    assert statuses(factory, 2, route=route, connection=connection) == [200, 429]


def test_header_value_match_and_skip_if_absent():
    from hotproxy.config.core import HeaderMatcher
    get = RateLimitAction("header_value_match", key="header_match", value="get",
                          headers=(HeaderMatcher(name="x-m", kind="exact", value="GET"),))
    optional = RateLimitAction("request_headers", key="user", header="x-user", skip_if_absent=True)
    factory = make_factory(token_bucket={"max_tokens": 100, "fill_interval": "60s"},
                           descriptors=[descriptor([("header_match", "get")], 1)])
    route = compiled_route(rate_limits=(RateLimit(actions=(optional, get)),))
    assert statuses(factory, 2, route=route, headers=[(b"x-m", b"GET")]) == [200, 429]
    assert statuses(factory, 2, route=route, headers=[(b"x-m", b"PUT")]) == [200, 200]


def test_per_route_config_has_buckets_and_stats_of_its_own():
    factory = make_factory(token_bucket={"max_tokens": 1, "fill_interval": "60s"})
    route_config = parse({"stat_prefix": "route_rl", "token_bucket": {"max_tokens": 3, "fill_interval": "60s"},
                          "filter_enabled": ALWAYS, "filter_enforced": ALWAYS}, per_route=True,
                         path="route")
    assert statuses(factory, 4, per_route={"rl": route_config}) == [200, 200, 200, 429]
    assert statuses(factory, 2) == [200, 429]
    assert stats(factory, "route_rl")["enforced"] == 1


def test_per_connection_buckets():
    factory = make_factory(token_bucket={"max_tokens": 1, "fill_interval": "60s"},
                           local_rate_limit_per_downstream_connection=True)
    one, two = FakeConnection(), FakeConnection()
    assert statuses(factory, 2, connection=one) == [200, 429]
    assert statuses(factory, 2, connection=two) == [200, 429]


def test_filter_enabled_fraction_is_random_per_request():
    factory = make_factory(filter_enabled={"default_value": {"numerator": 50}},
                           token_bucket={"max_tokens": 1000, "fill_interval": "60s"})
    factory.limiter._enabled = drawer((50, 100), random.Random(7))
    created = sum(factory.create(FakeStream(route=compiled_route())) is not None for _ in range(1000))
    assert 400 < created < 600


def test_factory_is_continue_when_allowed():
    factory = make_factory()
    stream = FakeStream(route=compiled_route())
    assert factory.create(stream).decode_headers(stream, True) is CONTINUE


def test_without_a_token_bucket_nothing_is_limited():
    factory = make_factory({"stat_prefix": "rl", "filter_enabled": ALWAYS, "filter_enforced": ALWAYS})
    assert statuses(factory, 3) == [200, 200, 200]
    assert stats(factory)["ok"] == 3
