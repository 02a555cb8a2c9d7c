"""The local_ratelimit network filter, sans-IO: a token per new connection, adopted ones free."""
from types import SimpleNamespace

from hotproxy.config.http_filters.local_ratelimit import TokenBucket
from hotproxy.config.network_local_ratelimit import NetworkLocalRateLimit
from hotproxy.network import local_ratelimit
from hotproxy import token_bucket


def make(max_tokens=2, **fields):
    token_bucket.share_through(None)
    config = NetworkLocalRateLimit(stat_prefix="rl", token_bucket=TokenBucket(max_tokens, 3600.0),
                                   location="here", **fields)
    return local_ratelimit.factory(config, None)


def conn(adopted=False):
    return SimpleNamespace(adopted=adopted)


def test_a_token_per_connection():
    network_filter = make()
    assert [network_filter.on_new_connection(conn()) for _ in range(3)] == [True, True, False]
    (prefix, stats), = network_filter.stat_sets()
    assert prefix == "local_rate_limit.rl." and stats.rate_limited == 1


def test_adopted_connections_and_a_disabled_filter_take_no_token():
    network_filter = make(max_tokens=1)
    assert network_filter.on_new_connection(conn(adopted=True))
    assert network_filter.on_new_connection(conn()) and not network_filter.on_new_connection(conn())
    disabled = make(max_tokens=1, enabled=False)
    assert all(disabled.on_new_connection(conn()) for _ in range(3))


def test_filters_with_one_share_key_share_a_bucket():
    token_bucket.share_through(None)
    one = NetworkLocalRateLimit(stat_prefix="a", token_bucket=TokenBucket(2, 3600.0), location="x",
                                share_key="k")
    two = NetworkLocalRateLimit(stat_prefix="b", token_bucket=TokenBucket(2, 3600.0), location="y",
                                share_key="k")
    first, second = local_ratelimit.factory(one, None), local_ratelimit.factory(two, None)
    assert first.on_new_connection(conn()) and second.on_new_connection(conn())
    assert not first.on_new_connection(conn()) and not second.on_new_connection(conn())
