"""The local_ratelimit network filter's config."""
import pytest

from hotproxy.config.http_filters.local_ratelimit import TokenBucket
from hotproxy.config.network_local_ratelimit import NetworkLocalRateLimit
from hotproxy.process.ratelimit_buckets import bucket_keys
from config_helpers import TCP_PROXY_TYPE, Rejected, ids, parse_with

NETWORK_LRL = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit"
CHAIN = "static_resources.listeners[1].filter_chains[0]"
FILTER = f"{CHAIN}.filters[0].typed_config"
BUCKET = {"max_tokens": 5, "fill_interval": "1s"}


def with_filter(**fields):
    return {f"{CHAIN}.filters": [
        {"name": "envoy.filters.network.local_ratelimit", "typed_config": {"@type": NETWORK_LRL, **fields}},
        {"name": "envoy.filters.network.tcp_proxy",
         "typed_config": {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}}]}


def test_fields():
    bootstrap = parse_with(with_filter(stat_prefix="rl", token_bucket=BUCKET, share_key="k",
                                       runtime_enabled={"runtime_key": "x", "default_value": False}))
    config = bootstrap.listeners[1].filter_chains[0].filters[0]
    assert config == NetworkLocalRateLimit(stat_prefix="rl", token_bucket=TokenBucket(5, 1.0),
                                           location=FILTER, enabled=False, share_key="k")
    key = config.bucket_key()
    assert key.startswith("local_ratelimit share_key k ") and bucket_keys(bootstrap) == [key, key + " raised"]


def test_without_a_share_key_the_bucket_is_the_configs_own():
    bootstrap = parse_with(with_filter(stat_prefix="rl", token_bucket=BUCKET))
    config = bootstrap.listeners[1].filter_chains[0].filters[0]
    assert config.enabled
    assert bucket_keys(bootstrap)[0].startswith(f"local_ratelimit {FILTER} connections ")


REJECTED = [
    Rejected(with_filter(token_bucket=BUCKET), f"{FILTER}.stat_prefix", "required field is missing"),
    Rejected(with_filter(stat_prefix="rl"), f"{FILTER}.token_bucket", "required field is missing"),
    Rejected(with_filter(stat_prefix="rl", token_bucket=BUCKET, runtime_enabled={"default_value": True}),
             f"{FILTER}.runtime_enabled.runtime_key", "required field is missing"),
    Rejected(with_filter(stat_prefix="rl", token_bucket=BUCKET, other=1), f"{FILTER}.other", "unknown field"),
    Rejected({f"{CHAIN}.filters": [{"name": "tcp", "typed_config": {
        "@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}},
        {"name": "rl", "typed_config": {"@type": NETWORK_LRL, "stat_prefix": "rl", "token_bucket": BUCKET}}]},
        f"{CHAIN}.filters[1]", "the last filter of a chain must be a terminal filter"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
