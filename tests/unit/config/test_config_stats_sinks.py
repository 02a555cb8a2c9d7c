"""The bootstrap's stats_sinks (statsd, DogStatsD) and stats_config's stats_matcher and
histogram_bucket_settings: what parses, and every rejection with its field path."""
import pytest

from hotproxy.config.bootstrap import HistogramBuckets, StatsMatcher, StatsSink
from hotproxy.config.core import SocketAddress, StringMatcher

from config_helpers import Rejected, ids, parse_with

STATSD = "type.googleapis.com/envoy.config.metrics.v3.StatsdSink"
DOG = "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink"
ADDRESS = {"socket_address": {"address": "127.0.0.1", "port_value": 8125}}


def sink(type_url, **fields):
    return {"name": "s", "typed_config": {"@type": type_url, **fields}}


def test_statsd_and_dog_statsd_parse_with_envoys_defaults():
    bootstrap = parse_with({"stats_sinks": [
        sink(STATSD, address=ADDRESS),
        sink(STATSD, tcp_cluster_name="backend", prefix="edge"),
        sink(DOG, address={"socket_address": {**ADDRESS["socket_address"], "protocol": "UDP"}},
             max_bytes_per_datagram=512)]})
    udp = SocketAddress("127.0.0.1", 8125, "UDP")
    assert bootstrap.stats_sinks == (
        StatsSink("statsd", address=udp, prefix="envoy"),
        StatsSink("statsd", tcp_cluster_name="backend", prefix="edge"),
        StatsSink("dog_statsd", address=udp, prefix="envoy", max_bytes_per_datagram=512))


def test_matcher_and_bucket_settings_parse():
    config = parse_with({"stats_config": {
        "stats_matcher": {"exclusion_list": {"patterns": [{"prefix": "cluster."}]}},
        "histogram_bucket_settings": [{"match": {"exact": "a"}, "buckets": [10, 0.5, 1]}]}}).stats_config
    assert config.stats_matcher == StatsMatcher("exclusion_list", patterns=(StringMatcher("prefix", "cluster."),))
    assert config.histogram_bucket_settings == (HistogramBuckets(StringMatcher("exact", "a"), (0.5, 1.0, 10.0)),)
    assert parse_with({"stats_config": {"stats_matcher": {"reject_all": True}}}).stats_config.stats_matcher == \
        StatsMatcher("reject_all", reject_all=True)


SINK = "stats_sinks[0]"
REJECTED = [
    Rejected({"stats_sinks": [sink(STATSD)]}, f"{SINK}.typed_config",
             "exactly one of address, tcp_cluster_name is required"),
    Rejected({"stats_sinks": [sink(STATSD, address=ADDRESS, tcp_cluster_name="backend")]},
             f"{SINK}.typed_config", "only one of address, tcp_cluster_name may be set"),
    Rejected({"stats_sinks": [sink(STATSD, tcp_cluster_name="nowhere")]}, f"{SINK}.typed_config.tcp_cluster_name",
             "cluster 'nowhere' is not defined"),
    Rejected({"stats_sinks": [sink(STATSD, address={"socket_address": {"address": "statsd", "port_value": 1}})]},
             f"{SINK}.typed_config.address.socket_address.address", "expected an IP address"),
    Rejected({"stats_sinks": [sink(DOG)]}, f"{SINK}.typed_config.address", "required field is missing"),
    Rejected({"stats_sinks": [sink(DOG, address=ADDRESS, max_bytes_per_datagram=0)]},
             f"{SINK}.typed_config.max_bytes_per_datagram", "must be between 1 and"),
    Rejected({"stats_sinks": [sink(DOG, address=ADDRESS, tcp_cluster_name="backend")]},
             f"{SINK}.typed_config.tcp_cluster_name", "unknown field"),
    Rejected({"stats_sinks": [sink("type.googleapis.com/envoy.config.metrics.v3.HystrixSink")]},
             f"{SINK}.typed_config.@type", "not supported by hotproxy yet"),
    Rejected({"stats_sinks": [{"name": "envoy.stat_sinks.statsd"}]}, f"{SINK}.typed_config",
             "required field is missing"),
    Rejected({"stats_config": {"stats_matcher": {}}}, "stats_config.stats_matcher",
             "exactly one of reject_all, exclusion_list, inclusion_list is required"),
    Rejected({"stats_config": {"stats_matcher": {"inclusion_list": {"patterns": []}}}},
             "stats_config.stats_matcher.inclusion_list.patterns", "must have at least one pattern"),
    Rejected({"stats_config": {"stats_matcher": {"inclusion_list": {"patterns": [{"safe_regex": {"regex": "("}}]}}}},
             "stats_config.stats_matcher.inclusion_list.patterns[0].safe_regex.regex", "invalid regex"),
    Rejected({"stats_config": {"histogram_bucket_settings": [{"buckets": [1]}]}},
             "stats_config.histogram_bucket_settings[0].match", "required field is missing"),
    Rejected({"stats_config": {"histogram_bucket_settings": [{"match": {"prefix": "a"}}]}},
             "stats_config.histogram_bucket_settings[0].buckets", "must have at least one bucket"),
    Rejected({"stats_config": {"histogram_bucket_settings": [{"match": {"prefix": "a"}, "buckets": [1, 0]}]}},
             "stats_config.histogram_bucket_settings[0].buckets[1]", "must be greater than 0"),
    Rejected({"stats_config": {"histogram_bucket_settings": [{"match": {"prefix": "a"}, "buckets": [2, 2]}]}},
             "stats_config.histogram_bucket_settings[0].buckets[1]", "must be unique"),
    Rejected({"stats_config": {"histogram_bucket_settings": [{"match": {"prefix": "a"}, "buckets": [1],
                                                               "bins": 10}]}},
             "stats_config.histogram_bucket_settings[0].bins", "not supported by hotproxy yet"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
