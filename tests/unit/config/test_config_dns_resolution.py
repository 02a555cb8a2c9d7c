"""A DNS cluster's resolution settings: dns_failure_refresh_rate, respect_dns_ttl and the
resolvers to ask (typed_dns_resolver_config's c-ares resolvers, or dns_resolvers), with Envoy
1.40's validation."""
import pytest

from config_helpers import CLUSTER, Rejected, ids, parse_with

NOT_SUPPORTED = "not supported by hotproxy yet"
CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"


def cares(**fields):
    return {"name": "envoy.network.dns_resolver.cares", "typed_config": {"@type": CARES, **fields}}


def resolver(ip, port):
    return {"socket_address": {"address": ip, "port_value": port}}


def test_defaults():
    cluster = parse_with({}).clusters[0]
    assert (cluster.dns_failure_refresh_rate, cluster.respect_dns_ttl, cluster.dns_resolvers) == (None, False, ())


def test_every_field_parses():
    cluster = parse_with({
        f"{CLUSTER}.respect_dns_ttl": True,
        f"{CLUSTER}.dns_failure_refresh_rate": {"base_interval": "0.5s", "max_interval": "4s"},
        f"{CLUSTER}.typed_dns_resolver_config": cares(resolvers=[resolver("127.0.0.1", 5353)])}).clusters[0]
    assert cluster.respect_dns_ttl is True
    assert cluster.dns_failure_refresh_rate == (0.5, 4.0)
    assert cluster.dns_resolvers == (("127.0.0.1", 5353),)


def test_max_interval_defaults_to_ten_times_the_base():
    cluster = parse_with({f"{CLUSTER}.dns_failure_refresh_rate": {"base_interval": "2s"}}).clusters[0]
    assert cluster.dns_failure_refresh_rate == (2.0, 20.0)


def test_deprecated_dns_resolvers_and_the_typed_config_wins():
    cluster = parse_with({f"{CLUSTER}.dns_resolvers": [resolver("10.0.0.53", 53)]}).clusters[0]
    assert cluster.dns_resolvers == (("10.0.0.53", 53),)
    both = parse_with({f"{CLUSTER}.dns_resolvers": [resolver("10.0.0.53", 53)],
                       f"{CLUSTER}.typed_dns_resolver_config": cares(resolvers=[resolver("127.0.0.1", 5353)])})
    assert both.clusters[0].dns_resolvers == (("127.0.0.1", 5353),)


RATE = f"{CLUSTER}.dns_failure_refresh_rate"
TYPED = f"{CLUSTER}.typed_dns_resolver_config"
REJECTED = [
    Rejected({RATE: {"base_interval": "2s", "max_interval": "1s"}}, f"{RATE}.max_interval",
             "dns_failure_refresh_rate must have max_interval greater than or equal to the base_interval"),
    Rejected({RATE: {"max_interval": "1s"}}, f"{RATE}.base_interval", "required field is missing"),
    Rejected({RATE: {"base_interval": "0.001s"}}, f"{RATE}.base_interval", "must be greater than 0.001s"),
    Rejected({TYPED: cares(resolvers=[resolver("dns.example", 53)])},
             f"{TYPED}.typed_config.resolvers[0].socket_address.address", "expected an IP address"),
    Rejected({TYPED: cares(use_resolvers_as_fallback=True)},
             f"{TYPED}.typed_config.use_resolvers_as_fallback", NOT_SUPPORTED),
    Rejected({f"{CLUSTER}.use_tcp_for_dns_lookups": True}, f"{CLUSTER}.use_tcp_for_dns_lookups", NOT_SUPPORTED),
    Rejected({f"{CLUSTER}.dns_jitter": "1s"}, f"{CLUSTER}.dns_jitter", NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
