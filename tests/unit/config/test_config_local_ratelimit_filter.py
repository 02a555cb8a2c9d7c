"""The local_ratelimit filter's LocalRateLimit config, as a filter and per route."""
import pytest

from hotproxy.config.http_filters.local_ratelimit import Descriptor, LocalRateLimit, TokenBucket
from hotproxy.config.runtime import RuntimeFraction
from config_helpers import HCM, ROUTE, Rejected, ids, parse_with

LRL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
NOT_SUPPORTED = "not supported by hotproxy yet"
FILTER = f"{HCM}.http_filters[0].typed_config"
BUCKET = {"max_tokens": 10, "tokens_per_fill": 5, "fill_interval": "2s"}


def with_filter(**fields):
    return {f"{HCM}.http_filters": [
        {"name": "envoy.filters.http.local_ratelimit", "typed_config": {"@type": LRL, **fields}},
        ROUTER]}


def filter_config(bootstrap):
    return bootstrap.listeners[0].filter_chains[0].filters[0].http_filters[0].config


def test_every_field():
    config = filter_config(parse_with(with_filter(
        stat_prefix="rl", status={"code": 503}, token_bucket=BUCKET,
        filter_enabled={"runtime_key": "on", "default_value": {"numerator": 50}},
        filter_enforced={"default_value": {"numerator": 1, "denominator": "TEN_THOUSAND"}},
        request_headers_to_add_when_not_enforced=[{"header": {"key": "X-A", "value": "1"}}],
        response_headers_to_add=[{"header": {"key": "x-b", "value": "2"}}],
        descriptors=[{"entries": [{"key": "k", "value": "v"}],
                      "token_bucket": {"max_tokens": 1, "fill_interval": "1s"}}],
        stage=3, local_rate_limit_per_downstream_connection=True,
        enable_x_ratelimit_headers="DRAFT_VERSION_03", vh_rate_limits="INCLUDE",
        always_consume_default_token_bucket=False)))
    assert isinstance(config, LocalRateLimit)
    assert config.stat_prefix == "rl" and config.status == 503
    assert config.token_bucket == TokenBucket(max_tokens=10, fill_interval=2.0, tokens_per_fill=5)
    assert config.filter_enabled == RuntimeFraction(50, 100, "on")
    assert config.filter_enforced == (1, 10_000)
    assert config.request_headers_to_add_when_not_enforced[0].key == "x-a"
    assert config.descriptors == (Descriptor(entries=(("k", "v"),),
                                             token_bucket=TokenBucket(1, 1.0)),)
    assert (config.stage, config.per_connection, config.x_ratelimit_headers, config.vh_rate_limits,
            config.always_consume_default_token_bucket) == (3, True, True, "INCLUDE", False)
    assert config.location == FILTER


def test_defaults():
    config = filter_config(parse_with(with_filter(stat_prefix="rl")))
    assert (config.status, config.token_bucket, config.filter_enabled, config.filter_enforced,
            config.x_ratelimit_headers, config.always_consume_default_token_bucket) == (
        429, None, None, None, False, True)


def test_per_route():
    bootstrap = parse_with({f"{ROUTE}.typed_per_filter_config": {
        "rl": {"@type": LRL, "stat_prefix": "r", "token_bucket": BUCKET}}})
    route = bootstrap.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0].routes[0]
    (name, config), = route.typed_per_filter_config
    assert name == "rl" and config.token_bucket.max_tokens == 10
    assert config.location == f"{ROUTE}.typed_per_filter_config.rl"


REJECTED = [
    Rejected(with_filter(), f"{FILTER}.stat_prefix", "required field is missing"),
    Rejected(with_filter(stat_prefix="p", token_bucket={"max_tokens": 0, "fill_interval": "1s"}),
             f"{FILTER}.token_bucket.max_tokens", "must be between 1"),
    Rejected(with_filter(stat_prefix="p", token_bucket={"max_tokens": 1}),
             f"{FILTER}.token_bucket.fill_interval", "required field is missing"),
    Rejected(with_filter(stat_prefix="p", token_bucket={"max_tokens": 1, "fill_interval": "0.01s"}),
             f"{FILTER}.token_bucket.fill_interval", "must be >= 50ms"),
    Rejected(with_filter(stat_prefix="p", token_bucket={"max_tokens": 1, "fill_interval": "1s",
                                                        "tokens_per_fill": 0}),
             f"{FILTER}.token_bucket.tokens_per_fill", "must be greater than 0"),
    Rejected(with_filter(stat_prefix="p", descriptors=[
        {"entries": [{"key": "k", "value": "v"}], "token_bucket": BUCKET},
        {"entries": [{"key": "k", "value": "v"}], "token_bucket": BUCKET}]),
        f"{FILTER}.descriptors[1]", "duplicate descriptor"),
    Rejected(with_filter(stat_prefix="p", descriptors=[{"entries": [{"key": "k"}], "token_bucket": BUCKET}]),
             f"{FILTER}.descriptors[0].entries[0].value", "dynamic descriptor"),
    Rejected(with_filter(stat_prefix="p", descriptors=[{"entries": [{"key": "k", "value": "v"}]}]),
             f"{FILTER}.descriptors[0].token_bucket", "required field is missing"),
    Rejected(with_filter(stat_prefix="p", stage=11), f"{FILTER}.stage", "must be between 0 and 10"),
    Rejected(with_filter(stat_prefix="p", local_cluster_rate_limit={}),
             f"{FILTER}.local_cluster_rate_limit", NOT_SUPPORTED),
    Rejected(with_filter(stat_prefix="p", rate_limited_as_resource_exhausted=True),
             f"{FILTER}.rate_limited_as_resource_exhausted", NOT_SUPPORTED),
    Rejected(with_filter(stat_prefix="p", status={"code": "Teapot"}), f"{FILTER}.status.code",
             "expected an integer"),
    Rejected({f"{ROUTE}.typed_per_filter_config": {"rl": {"@type": LRL, "stat_prefix": "r"}}},
             f"{ROUTE}.typed_per_filter_config.rl.token_bucket", "required field is missing"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
