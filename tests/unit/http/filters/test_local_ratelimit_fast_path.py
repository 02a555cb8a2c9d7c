"""What the local_ratelimit filter works out once per config so that a request pays less
(issue 18's per-filter cost): the filter shared by every stream and its one bucket. Each must
limit as the general path."""
from types import SimpleNamespace

import pytest

from hotproxy import token_bucket
from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import local_ratelimit as config_module
from hotproxy.http.filters import local_ratelimit
from hotproxy.http.filters.api import CONTINUE, STOP, FilterContext

from filter_fakes import FakeConnection, FakeStream

ALWAYS = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}


@pytest.fixture(autouse=True)
def fresh_buckets():
    token_bucket.share_through(None)


def limiter_factory(**fields):
    body = {"stat_prefix": "rl", "token_bucket": {"max_tokens": 2, "fill_interval": "60s"},
            "filter_enabled": ALWAYS, "filter_enforced": ALWAYS, **fields}
    ctx = Context()
    config = config_module.parse(Node(body, "lrl", ctx))
    assert not ctx.problems, ctx.problems
    factory = local_ratelimit.factory(config, FilterContext(
        None, "http.in.", SimpleNamespace(service_cluster="svc")))
    factory.name = "rl"
    return factory


def route():
    action = SimpleNamespace(rate_limits=(), include_vh_rate_limits=False)
    return SimpleNamespace(config=SimpleNamespace(route=action), vhost_rate_limits=())


def test_one_shared_filter_and_its_one_bucket_decide():
    factory = limiter_factory()
    limiter = factory.limiter
    assert limiter.only_bucket is limiter.buckets(None)[0]
    streams = [FakeStream(route=route()) for _ in range(3)]
    filters = [factory.create(stream) for stream in streams]
    assert filters[0] is filters[1] is filters[2] is limiter.shared
    results = [f.decode_headers(s, True) for f, s in zip(filters, streams)]
    assert results == [CONTINUE, CONTINUE, STOP]
    assert streams[2].local_reply[0] == 429
    assert (limiter.stats.enabled, limiter.stats.ok, limiter.stats.rate_limited) == (3, 2, 1)


def test_descriptors_or_buckets_per_connection_take_the_general_path():
    described = limiter_factory(descriptors=[{
        "entries": [{"key": "generic_key", "value": "all"}],
        "token_bucket": {"max_tokens": 1, "fill_interval": "60s"}}])
    assert described.limiter.only_bucket is None
    per_connection = limiter_factory(local_rate_limit_per_downstream_connection=True)
    assert per_connection.limiter.only_bucket is None
    one, two = FakeConnection(), FakeConnection()
    outcomes = []
    for connection in (one, one, one, two):
        stream = FakeStream(route=route(), connection=connection)
        outcomes.append(per_connection.create(stream).decode_headers(stream, True))
    assert outcomes == [CONTINUE, CONTINUE, STOP, CONTINUE]


def test_x_ratelimit_headers_make_a_filter_per_stream():
    factory = limiter_factory(enable_x_ratelimit_headers="DRAFT_VERSION_03")
    assert factory.limiter.shared is None
    one, two = FakeStream(route=route()), FakeStream(route=route())
    first, second = factory.create(one), factory.create(two)
    assert first is not second
    first.decode_headers(one, True)
    response, _ = one.run_response(first, headers=[(b"content-length", b"0")])
    assert (b"x-ratelimit-remaining", b"1") in response.headers
