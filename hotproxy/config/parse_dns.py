"""Parser for a DNS cluster's resolution settings: ``dns_failure_refresh_rate`` (the back-off
after a failed resolution), ``respect_dns_ttl``'s companions, and the resolvers to ask
(``typed_dns_resolver_config`` with c-ares' ``resolvers``, or the deprecated ``dns_resolvers``),
as Cluster keyword arguments."""
from __future__ import annotations

from .fields import Fields, Node, present, typed_config
from .parse_core import address

REFRESH_RATE = Fields("base_interval max_interval")
TYPED_DNS_RESOLVER_CONFIG = Fields("name typed_config")
CARES_TYPE = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"
CARES_DNS_RESOLVER_CONFIG = Fields(
    "resolvers",
    unsupported="use_resolvers_as_fallback filter_unroutable_families dns_resolver_options "
                "udp_max_queries query_timeout_seconds query_tries rotate_nameservers "
                "edns0_max_payload_size max_udp_channel_duration reinit_channel_on_timeout")
MIN_INTERVAL_S = 0.001


def dns_settings(m) -> dict:
    """The DNS fields of the Cluster message ``m`` that are set."""
    resolvers = m.nested("typed_dns_resolver_config", typed_dns_resolver_config)
    if resolvers is None:
        resolvers = m.repeated("dns_resolvers", _resolver_address) or None
    return present(dns_failure_refresh_rate=m.nested("dns_failure_refresh_rate", refresh_rate),
                   respect_dns_ttl=m.boolean("respect_dns_ttl"),
                   dns_resolvers=resolvers)


def refresh_rate(node: Node) -> tuple[float, float] | None:
    """(base_interval, max_interval) in seconds; max_interval defaults to ten times the base,
    as Envoy's prepareDnsRefreshStrategy does."""
    m = node.message(REFRESH_RATE)
    if m is None:
        return None
    base = m.duration("base_interval")
    if base is None:
        m.at("base_interval").fail("required field is missing")
        return None
    highest = m.duration("max_interval")
    for name, value in (("base_interval", base), ("max_interval", highest)):
        if value is not None and value <= MIN_INTERVAL_S:
            m.at(name).fail("must be greater than 0.001s")
            return None
    if highest is None:
        highest = base * 10
    elif highest < base:
        m.at("max_interval").fail("dns_failure_refresh_rate must have max_interval greater than "
                                  "or equal to the base_interval")
        return None
    return base, highest


def typed_dns_resolver_config(node: Node) -> tuple[tuple[str, int], ...] | None:
    m = node.message(TYPED_DNS_RESOLVER_CONFIG)
    if m is None:
        return None
    m.string("name")
    return m.nested("typed_config", lambda n: typed_config(n, {CARES_TYPE: _cares}), required=True)


def _cares(node: Node) -> tuple[tuple[str, int], ...] | None:
    m = node.message(CARES_DNS_RESOLVER_CONFIG)
    if m is None:
        return None
    return m.repeated("resolvers", _resolver_address) or None


def _resolver_address(node: Node) -> tuple[str, int] | None:
    found = address(node, ip_only=True)
    if found is None:
        return None
    return found.address, found.port or 53
