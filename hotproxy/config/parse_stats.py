"""Parsers for the Bootstrap's stats fields: ``stats_config`` (tags, the stats matcher, histogram
bucket settings) and ``stats_sinks`` (statsd and DogStatsD)."""
from __future__ import annotations

from ..stats.tags import DEFAULT_TAG_NAMES, compile_tag_regex
from .bootstrap import HistogramBuckets, StatsConfig, StatsMatcher, StatsSink, StatsTag
from .fields import Enum, Fields, Message, Node, present, typed_config
from .parse_core import SOCKET_ADDRESS, is_ip, string_matcher
from .core import SocketAddress

STATS_CONFIG = Fields("stats_tags use_all_default_tags stats_matcher histogram_bucket_settings")
TAG_SPECIFIER = Fields("tag_name regex fixed_value")
STATS_MATCHER = Fields("reject_all exclusion_list inclusion_list")
LIST_STRING_MATCHER = Fields("patterns")
HISTOGRAM_BUCKET_SETTINGS = Fields("match buckets", unsupported="bins")
STATS_SINK = Fields("name typed_config")
STATSD_SINK = Fields("address tcp_cluster_name prefix")
DOG_STATSD_SINK = Fields("address prefix max_bytes_per_datagram")
SINK_ADDRESS = Fields("socket_address", unsupported="pipe envoy_internal_address")
# Envoy sends statsd over UDP whatever the address' protocol says.
SINK_PROTOCOLS = Enum("TCP UDP")

STATSD_TYPE = "type.googleapis.com/envoy.config.metrics.v3.StatsdSink"
DOG_STATSD_TYPE = "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink"
_MAX_TAG_REGEX_BYTES = 1024     # Envoy's validation rule on TagSpecifier.regex
_UINT64_MAX = 2**64 - 1


def stats_config(node: Node, check_unique) -> StatsConfig | None:
    """``check_unique(nodes, parsed, field, key, reason)``: parse.py's duplicate check."""
    m = node.message(STATS_CONFIG)
    if m is None:
        return None
    tag_nodes = m.items("stats_tags")
    tags = [stats_tag(n) for n in tag_nodes]
    check_unique(tag_nodes, tags, "tag_name", lambda tag: tag.tag_name,
                 lambda name: f"duplicate tag name '{name}'")
    return StatsConfig(stats_tags=tuple(filter(None, tags)),
                       histogram_bucket_settings=m.repeated("histogram_bucket_settings",
                                                            histogram_buckets),
                       **present(use_all_default_tags=m.boolean("use_all_default_tags"),
                                 stats_matcher=m.nested("stats_matcher", stats_matcher)))


def stats_tag(node: Node) -> StatsTag | None:
    m = node.message(TAG_SPECIFIER)
    if m is None:
        return None
    tag_name = m.string("tag_name", required=True)
    m.one_of("regex", "fixed_value", required=False)
    regex = m.string("regex") or None       # an empty regex is none, as in Envoy
    fixed_value = m.string("fixed_value")
    if regex is not None:
        _check_tag_regex(m.at("regex"), regex)
    elif fixed_value is None and tag_name and tag_name not in DEFAULT_TAG_NAMES:
        # With neither, Envoy uses its default extractors of that name, if it has any.
        node.fail(f"one of regex, fixed_value is required: '{tag_name}' is not a default tag name "
                  f"({', '.join(sorted(DEFAULT_TAG_NAMES))})")
    if tag_name is None:
        return None
    return StatsTag(tag_name, **present(regex=regex, fixed_value=fixed_value))


def _check_tag_regex(node: Node, regex: str) -> None:
    if len(regex.encode()) > _MAX_TAG_REGEX_BYTES:
        node.fail(f"must be at most {_MAX_TAG_REGEX_BYTES} bytes")
        return
    try:
        compile_tag_regex(regex)
    except ValueError as exc:
        node.fail(str(exc))


def stats_matcher(node: Node) -> StatsMatcher | None:
    m = node.message(STATS_MATCHER)
    if m is None:
        return None
    kind = m.one_of("reject_all", "exclusion_list", "inclusion_list")
    if kind == "reject_all":
        reject_all = m.boolean("reject_all")
        return None if reject_all is None else StatsMatcher(kind, reject_all=reject_all)
    if kind is None:
        return None
    patterns = m.nested(kind, _patterns)
    return None if patterns is None else StatsMatcher(kind, patterns=patterns)


def _patterns(node: Node):
    m = node.message(LIST_STRING_MATCHER)
    if m is None:
        return None
    if not m.items("patterns"):
        m.at("patterns").fail("must have at least one pattern")
        return None
    patterns = m.repeated("patterns", string_matcher)
    return patterns if all(patterns) else None


def histogram_buckets(node: Node) -> HistogramBuckets | None:
    m = node.message(HISTOGRAM_BUCKET_SETTINGS)
    if m is None:
        return None
    match = m.nested("match", string_matcher, required=True)
    bucket_nodes = m.items("buckets")
    if not bucket_nodes:
        m.at("buckets").fail("must have at least one bucket")
    bounds = []
    for bucket in bucket_nodes:
        bound = bucket.double()
        if bound is None:
            continue
        if not bound > 0:
            bucket.fail(f"must be greater than 0, got {bound:g}")
        elif bound in bounds:
            bucket.fail(f"duplicate bucket {bound:g}: buckets must be unique")
        else:
            bounds.append(bound)
    if match is None or not bounds or len(bounds) != len(bucket_nodes):
        return None
    return HistogramBuckets(match=match, buckets=tuple(sorted(bounds)))


def stats_sinks(m: Message) -> tuple[StatsSink, ...]:
    """The Bootstrap's ``stats_sinks``."""
    return m.repeated("stats_sinks", stats_sink)


def stats_sink(node: Node) -> StatsSink | None:
    m = node.message(STATS_SINK)
    if m is None:
        return None
    m.string("name")        # any name: Envoy goes by the typed_config's type
    parsers = {STATSD_TYPE: statsd_sink, DOG_STATSD_TYPE: dog_statsd_sink}
    return m.nested("typed_config", lambda n: typed_config(n, parsers), required=True)


def statsd_sink(node: Node) -> StatsSink | None:
    m = node.message(STATSD_SINK)
    if m is None:
        return None
    chosen = m.one_of("address", "tcp_cluster_name")
    prefix = m.string("prefix") or "envoy"
    if chosen == "address":
        address = m.nested("address", sink_address)
        return address and StatsSink("statsd", address=address, prefix=prefix)
    if chosen == "tcp_cluster_name":
        cluster = m.string("tcp_cluster_name", required=True)
        if cluster:
            m.at("tcp_cluster_name").refers_to_cluster(cluster)
            return StatsSink("statsd", tcp_cluster_name=cluster, prefix=prefix)
    return None


def dog_statsd_sink(node: Node) -> StatsSink | None:
    m = node.message(DOG_STATSD_SINK)
    if m is None:
        return None
    address = m.nested("address", sink_address, required=True)
    prefix = m.string("prefix") or "envoy"
    max_bytes = m.uint32("max_bytes_per_datagram", minimum=1, maximum=_UINT64_MAX)
    if address is None:
        return None
    return StatsSink("dog_statsd", address=address, prefix=prefix, max_bytes_per_datagram=max_bytes)


def sink_address(node: Node) -> SocketAddress | None:
    """A core.v3.Address with an IP socket_address (Envoy resolves none for a sink)."""
    m = node.message(SINK_ADDRESS)
    if m is None:
        return None
    return m.nested("socket_address", _sink_socket_address, required=True)


def _sink_socket_address(node: Node) -> SocketAddress | None:
    m = node.message(SOCKET_ADDRESS)
    if m is None:
        return None
    host = m.string("address", required=True)
    if host and not is_ip(host):
        m.at("address").fail(f"expected an IP address, got '{host}'")
        host = None
    port = m.uint32("port_value", required=True, maximum=65535)
    m.enum("protocol", SINK_PROTOCOLS)
    if host is None or port is None:
        return None
    return SocketAddress(address=host, port=port, protocol="UDP")
