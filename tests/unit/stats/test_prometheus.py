"""The Prometheus exposition: Envoy's layout, and what a Prometheus parser reads from it."""
from prometheus_client.parser import text_string_to_metric_families

from hotproxy.config.bootstrap import StatsTag
from hotproxy.stats.histogram import Recorder, Totals
from hotproxy.stats.prometheus import render
from hotproxy.stats.tags import TagExtractor

ENVOY_BOUNDS = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000",
                "10000", "30000", "60000", "300000", "600000", "1800000", "3600000"]


def parsed(text):
    """The families prometheus_client reads; it names a counter family without its ``_total``, and
    each counter sample with it."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family):
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples}


def totals(*values):
    recorder, histogram = Recorder(), Totals()
    for value in values:
        recorder.record(value)
    histogram.add(*recorder.take())
    return histogram


def test_envoys_layout():
    text = render({"cluster.backend.upstream_rq_5xx": 1, "cluster.backend.upstream_rq_2xx": 7,
                   "server.reload_total": 2},
                  {"server.live": 1}, {}, TagExtractor())
    assert text == (
        "# TYPE envoy_cluster_upstream_rq_xx counter\n"
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",'
        'envoy_cluster_name="backend"} 7\n'
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",'
        'envoy_cluster_name="backend"} 1\n'
        "# TYPE envoy_server_reload_total counter\n"
        "envoy_server_reload_total{} 2\n"
        "# TYPE envoy_server_live gauge\n"
        "envoy_server_live{} 1\n")


def test_counters_and_gauges_parse_with_their_labels():
    families = parsed(render(
        {"cluster.backend.upstream_rq_2xx": 7, "cluster.canary.upstream_rq_2xx": 3,
         "http.ingress_http.downstream_rq_5xx": 4, "tcp.tcp_in.downstream_cx_total": 9},
        {"listener.127.0.0.1_10000.downstream_cx_active": 2,
         "server.generation.3.rss_bytes": 1024},
        {}, TagExtractor()))
    assert families["envoy_cluster_upstream_rq_xx"].type == "counter"
    assert samples(families["envoy_cluster_upstream_rq_xx"]) == {
        ("envoy_cluster_upstream_rq_xx_total", (("envoy_cluster_name", "backend"),
                                                ("envoy_response_code_class", "2"))): 7,
        ("envoy_cluster_upstream_rq_xx_total", (("envoy_cluster_name", "canary"),
                                                ("envoy_response_code_class", "2"))): 3}
    assert samples(families["envoy_http_downstream_rq_xx"]) == {
        ("envoy_http_downstream_rq_xx_total", (("envoy_http_conn_manager_prefix", "ingress_http"),
                                               ("envoy_response_code_class", "5"))): 4}
    assert samples(families["envoy_tcp_downstream_cx"]) == {
        ("envoy_tcp_downstream_cx_total", (("envoy_tcp_prefix", "tcp_in"),)): 9}
    assert families["envoy_listener_downstream_cx_active"].type == "gauge"
    assert samples(families["envoy_listener_downstream_cx_active"]) == {
        ("envoy_listener_downstream_cx_active",
         (("envoy_listener_address", "127.0.0.1_10000"),)): 2}
    assert samples(families["envoy_server_generation_rss_bytes"]) == {
        ("envoy_server_generation_rss_bytes", (("hotproxy_generation", "3"),)): 1024}


def test_histograms_have_envoys_buckets_sum_and_count():
    text = render({}, {}, {"cluster.backend.upstream_rq_time": totals(0.3, 1, 7, 5_000_000)},
                  TagExtractor())
    assert [line.split('le="')[1].split('"')[0] for line in text.splitlines()
            if "_bucket" in line] == ENVOY_BOUNDS + ["+Inf"]
    family = parsed(text)["envoy_cluster_upstream_rq_time"]
    assert family.type == "histogram"
    buckets = {sample.labels["le"]: sample.value for sample in family.samples
               if sample.name.endswith("_bucket")}
    assert (buckets["0.5"], buckets["1"], buckets["5"], buckets["10"], buckets["3600000"],
            buckets["+Inf"]) == (1, 2, 2, 3, 3, 4)
    rest = {sample.name: (sample.labels, sample.value) for sample in family.samples
            if not sample.name.endswith("_bucket")}
    assert rest == {
        "envoy_cluster_upstream_rq_time_sum": ({"envoy_cluster_name": "backend"}, 5_000_008.3),
        "envoy_cluster_upstream_rq_time_count": ({"envoy_cluster_name": "backend"}, 4)}


def test_a_histogram_without_tags_or_values():
    text = render({}, {}, {"server.start_time": Totals()}, TagExtractor())
    assert 'envoy_server_start_time_bucket{le="0.5"} 0\n' in text
    assert text.endswith('envoy_server_start_time_bucket{le="+Inf"} 0\n'
                         "envoy_server_start_time_sum{} 0\n"
                         "envoy_server_start_time_count{} 0\n")
    assert parsed(text)["envoy_server_start_time"].type == "histogram"


def test_sums_are_printed_as_envoy_prints_them():
    # Envoy formats sums with {:.32g}: the double's exact digits, up to 32 of them.
    text = render({}, {}, {"server.h": totals(0.1)}, TagExtractor())
    assert "envoy_server_h_sum{} 0.10000000000000000555111512312578\n" in text


def test_label_values_are_escaped_and_names_sanitised():
    value = 'a\\b "quoted"\nnext'
    extractor = TagExtractor((StatsTag("team.name", fixed_value=value),))
    text = render({"server.live": 1}, {}, {}, extractor)
    assert 'envoy_server_live{team_name="a\\\\b \\"quoted\\"\\nnext"} 1\n' in text
    assert samples(parsed(text)["envoy_server_live"]) == {
        ("envoy_server_live_total", (("team_name", value),)): 1}


def test_names_outside_prometheus_characters_become_underscores():
    families = parsed(render({"cluster.my-cluster.upstream_cx_total": 1, "x.a-b:c": 2}, {}, {},
                             TagExtractor()))
    assert samples(families["envoy_cluster_upstream_cx"]) == {
        ("envoy_cluster_upstream_cx_total", (("envoy_cluster_name", "my-cluster"),)): 1}
    assert "envoy_x_a_b_c" in families


def test_stats_that_come_to_the_same_sample_give_one_the_first_by_name():
    text = render({"server.a_b": 2, "server.a.b": 1}, {}, {}, TagExtractor())
    assert text == "# TYPE envoy_server_a_b counter\nenvoy_server_a_b{} 1\n"


def test_samples_are_sorted_by_labels():
    text = render({f"cluster.{name}.upstream_cx_total": 1 for name in ("c", "a", "b")}, {}, {},
                  TagExtractor())
    assert [line.split('"')[1] for line in text.splitlines() if line.startswith("envoy_")] == \
        ["a", "b", "c"]


def test_nothing_to_render():
    assert render({}, {}, {}, TagExtractor()) == ""
