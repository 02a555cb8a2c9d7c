"""Tag extraction: Envoy's default extractors on the stats hotproxy has, custom regexes, fixed
values, and which extractor wins a shared tag name."""
import pytest

from hotproxy.config.bootstrap import StatsConfig, StatsTag
from hotproxy.stats.tags import TagExtractor, compile_tag_regex


@pytest.mark.parametrize("name, extracted, tags", [
    ("cluster.backend.upstream_rq_2xx", "cluster.upstream_rq_xx",
     {"envoy_cluster_name": "backend", "envoy_response_code_class": "2"}),
    ("cluster.backend.upstream_rq_503", "cluster.upstream_rq",
     {"envoy_cluster_name": "backend", "envoy_response_code": "503"}),
    ("http.ingress_http.downstream_rq_5xx", "http.downstream_rq_xx",
     {"envoy_http_conn_manager_prefix": "ingress_http", "envoy_response_code_class": "5"}),
    ("listener.127.0.0.1_10000.downstream_cx_total", "listener.downstream_cx_total",
     {"envoy_listener_address": "127.0.0.1_10000"}),
    ("listener.[__1]_10000.downstream_cx_total", "listener.downstream_cx_total",
     {"envoy_listener_address": "[__1]_10000"}),
    ("listener.127.0.0.1_80.http.ingress_http.downstream_rq_2xx", "listener.http.downstream_rq_xx",
     {"envoy_listener_address": "127.0.0.1_80", "envoy_http_conn_manager_prefix": "ingress_http",
      "envoy_response_code_class": "2"}),
    ("listener.admin.downstream_cx_total", "listener.admin.downstream_cx_total", {}),
    ("tcp.tcp_in.downstream_cx_total", "tcp.downstream_cx_total", {"envoy_tcp_prefix": "tcp_in"}),
    ("server.worker_1.watchdog_miss", "server.worker_watchdog_miss", {"envoy_worker_id": "1"}),
    ("server.generation.3.rss_bytes", "server.generation.rss_bytes", {"hotproxy_generation": "3"}),
    ("server.live", "server.live", {}),
    ("cluster.backend", "cluster.backend", {}),
])
def test_default_extractors(name, extracted, tags):
    got_name, got_tags = TagExtractor().extract(name)
    assert (got_name, dict(got_tags)) == (extracted, tags)


def test_tags_come_in_envoys_order():
    # Extractors not tied to a first segment (the response code ones) run first in Envoy.
    assert TagExtractor().extract("cluster.backend.upstream_rq_2xx")[1] == (
        ("envoy_response_code_class", "2"), ("envoy_cluster_name", "backend"))


def test_without_default_tags_names_are_left_alone():
    extractor = TagExtractor(use_all_default_tags=False)
    assert extractor.extract("cluster.backend.upstream_rq_2xx") == \
        ("cluster.backend.upstream_rq_2xx", ())


def test_a_tag_name_alone_picks_the_default_extractors_of_that_name():
    extractor = TagExtractor((StatsTag("envoy_http_conn_manager_prefix"),),
                             use_all_default_tags=False)
    assert extractor.extract("http.ingress_http.downstream_rq_5xx") == \
        ("http.downstream_rq_5xx", (("envoy_http_conn_manager_prefix", "ingress_http"),))


def test_custom_regex_removes_the_first_group_and_takes_the_second_as_value():
    # The example of Envoy's TagSpecifier documentation.
    extractor = TagExtractor((StatsTag("envoy.cluster_name", regex=r"^cluster\.((.+?)\.)"),),
                             use_all_default_tags=False)
    assert extractor.extract("cluster.foo_cluster.upstream_rq_timeout") == \
        ("cluster.upstream_rq_timeout", (("envoy.cluster_name", "foo_cluster"),))


def test_custom_regex_with_one_group_takes_it_as_value():
    extractor = TagExtractor((StatsTag("shard", regex=r"_shard(\d+)$"),),
                             use_all_default_tags=False)
    assert extractor.extract("cache.hits_shard7") == ("cache.hits_shard", (("shard", "7"),))


def test_every_extractor_sees_the_whole_name():
    # Both regexes match "backend": Envoy removes once all have looked, so neither is starved.
    extractor = TagExtractor((StatsTag("whole", regex=r"^cluster\.((\w+)\.)"),
                              StatsTag("head", regex=r"^cluster\.((\w{4})\w*\.)")),
                             use_all_default_tags=False)
    assert extractor.extract("cluster.backend.upstream_rq_total") == \
        ("cluster.upstream_rq_total", (("whole", "backend"), ("head", "back")))


def test_fixed_values_tag_every_stat_without_renaming_it():
    extractor = TagExtractor((StatsTag("region", fixed_value="eu-west"),))
    assert extractor.extract("server.live") == ("server.live", (("region", "eu-west"),))
    name, tags = extractor.extract("cluster.backend.upstream_cx_total")
    assert name == "cluster.upstream_cx_total"
    assert dict(tags) == {"envoy_cluster_name": "backend", "region": "eu-west"}


def test_the_first_matching_extractor_of_a_name_wins():
    # A custom extractor for a default's name is an alternative, used when the default misses.
    extractor = TagExtractor((StatsTag("envoy_cluster_name", regex=r"^upstream\.((\w+)\.)"),))
    assert extractor.extract("cluster.backend.upstream_cx_total")[1] == \
        (("envoy_cluster_name", "backend"),)
    assert extractor.extract("upstream.api.cx_total") == \
        ("upstream.cx_total", (("envoy_cluster_name", "api"),))


def test_results_are_cached():
    extractor = TagExtractor()
    first = extractor.extract("cluster.backend.upstream_rq_2xx")
    assert extractor.extract("cluster.backend.upstream_rq_2xx") is first


def test_from_config():
    config = StatsConfig(stats_tags=(StatsTag("region", fixed_value="eu"),),
                         use_all_default_tags=False)
    assert TagExtractor.from_config(config).extract("cluster.backend.upstream_cx_total") == \
        ("cluster.backend.upstream_cx_total", (("region", "eu"),))


@pytest.mark.parametrize("regex, reason", [("((", "invalid regex"),
                                           (r"^cluster\.\w+", "needs a capture group")])
def test_bad_regexes(regex, reason):
    with pytest.raises(ValueError, match=reason):
        compile_tag_regex(regex)
    with pytest.raises(ValueError, match=reason):
        TagExtractor((StatsTag("t", regex=regex),))


def test_a_tag_name_alone_must_be_a_default_one():
    with pytest.raises(ValueError, match="no default extractor"):
        TagExtractor((StatsTag("region"),))


@pytest.mark.parametrize("name, extracted, tags", [
    # as a real Envoy 1.40 exports them (its /stats/prometheus on a TLS listener)
    ("listener.127.0.0.1_443.ssl.ciphers.TLS_AES_256_GCM_SHA384", "listener.ssl.ciphers",
     (("envoy_ssl_cipher", "TLS_AES_256_GCM_SHA384"), ("envoy_listener_address", "127.0.0.1_443"))),
    ("listener.127.0.0.1_443.ssl.versions.TLSv1.3", "listener.ssl.versions",
     (("envoy_ssl_version", "TLSv1.3"), ("envoy_listener_address", "127.0.0.1_443"))),
    ("cluster.backend.ssl.curves.X25519", "cluster.ssl.curves",
     (("envoy_ssl_curve", "X25519"), ("envoy_cluster_name", "backend"))),
    ("listener.127.0.0.1_443.ssl.certificate.unnamed_cert_e3b0c442.expiration_unix_time_seconds",
     "listener.ssl.certificate.expiration_unix_time_seconds",
     (("envoy_tls_certificate", "unnamed_cert_e3b0c442"), ("envoy_listener_address", "127.0.0.1_443"))),
])
def test_tls_tags_as_envoy_extracts_them(name, extracted, tags):
    assert TagExtractor().extract(name) == (extracted, tags)
