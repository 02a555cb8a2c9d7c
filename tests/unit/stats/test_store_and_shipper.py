"""Worker-side shipping and arbiter-side merging of stats (sans-IO)."""
import math

from hotproxy.stats.histogram import Recorder, Totals, bin_edges, bin_of
from hotproxy.stats.schema import ClusterStats, HttpStats
from hotproxy.stats.shipper import StatsShipper
from hotproxy.stats.store import StatsStore
from hotproxy.stats import render


def shipper_with(stats, prefix="http.in."):
    shipper = StatsShipper()
    shipper.add(prefix, stats)
    return shipper


def test_first_collect_declares_every_name_then_only_deltas_travel():
    stats = HttpStats()
    shipper = shipper_with(stats)
    first = shipper.collect()
    assert first["c"]["http.in.downstream_rq_total"] == 0
    assert set(first["g"]) == {"http.in.downstream_cx_active", "http.in.downstream_rq_active",
                               "http.in.downstream_cx_ssl_active",
                               "http.in.downstream_cx_http2_active",
                               "http.in.downstream_cx_upgrades_active"}
    stats.downstream_rq_total += 3
    stats.downstream_cx_active = 2
    second = shipper.collect()
    assert second["c"] == {"http.in.downstream_rq_total": 3}
    assert second["g"]["http.in.downstream_cx_active"] == 2
    assert shipper.collect()["c"] == {}


def test_two_components_sharing_a_prefix_add_up():
    a, b = HttpStats(), HttpStats()
    shipper = StatsShipper()
    shipper.add("http.in.", a)
    shipper.add("http.in.", b)
    shipper.collect()
    a.downstream_rq_total += 1
    b.downstream_rq_total += 2
    a.downstream_cx_active, b.downstream_cx_active = 1, 4
    message = shipper.collect()
    assert message["c"]["http.in.downstream_rq_total"] == 3
    assert message["g"]["http.in.downstream_cx_active"] == 5


def test_store_sums_counters_across_workers_and_keeps_them_when_one_exits():
    store = StatsStore()
    store.merge("w0", {"c": {"x": 2}, "g": {"active": 3}})
    store.merge("w1", {"c": {"x": 5}, "g": {"active": 1}})
    assert store.counters["x"] == 7 and store.gauges()["active"] == 4
    store.forget("w0")
    assert store.counters["x"] == 7 and store.gauges()["active"] == 1


def test_levels_from_a_forgotten_source_never_come_back():
    store = StatsStore()
    store.merge("w0", {"g": {"active": 3}})
    store.forget("w0")
    assert store.gauges().get("active", 0) == 0


def test_shared_gauges_take_the_highest_report_instead_of_the_sum():
    store = StatsStore()
    store.merge("w0", {"gm": {"cluster.b.membership_total": 3}})
    store.merge("w1", {"gm": {"cluster.b.membership_total": 3}})
    assert store.gauges()["cluster.b.membership_total"] == 3


def test_cluster_membership_is_a_shared_gauge():
    assert "membership_total" in ClusterStats.shared_gauges
    assert "upstream_cx_active" in ClusterStats.gauges


def test_reset_counters_keeps_gauges_and_histograms():
    store = StatsStore()
    store.merge("w0", {"c": {"x": 2}, "g": {"active": 3}, "h": {"t": [[bin_of(0.2), 1], 0.2]}})
    store.reset_counters()
    assert store.counters["x"] == 0 and store.gauges()["active"] == 3
    assert store.histograms["t"].count == 1


def test_usedonly_tracks_what_ever_moved():
    store = StatsStore()
    store.merge("w0", {"c": {"a": 0, "b": 1}, "g": {"g0": 0, "g1": 2}})
    assert store.used == {"b", "g1"}


def test_hot_restart_export_and_import_continue_counters_and_hold_parent_levels():
    parent = StatsStore()
    parent.merge("w0", {"c": {"x": 4}, "g": {"listener.a.downstream_cx_active": 2}})
    child = StatsStore()
    child.merge("w0", {"c": {"x": 1}})
    child.import_parent(parent.export())
    assert child.counters["x"] == 5
    assert child.gauges()["listener.a.downstream_cx_active"] == 2
    child.forget("parent")
    assert child.gauges().get("listener.a.downstream_cx_active", 0) == 0


def test_host_counters_accumulate_and_hosts_list_what_live_workers_report():
    store = StatsStore()
    store.merge("w0", {"hosts": {"b": {"10.0.0.1:80": [1, 2, 1, {"rq_total": 5}]}}})
    store.merge("w1", {"hosts": {"b": {"10.0.0.1:80": [1, 1, 1, {"rq_total": 2}]}}})
    host = store.hosts()["b"]["10.0.0.1:80"]
    assert host.counters["rq_total"] == 7 and host.rq_active == 3 and host.cx_active == 2
    store.forget("w0")
    store.forget("w1")
    assert store.hosts() == {}


def test_histogram_buckets_are_le_and_quantiles_interpolate():
    recorder = Recorder()
    for value in (0.5, 0.7, 3, 3, 12):
        recorder.record(value)
    bins, total = recorder.take()
    assert recorder.take() is None
    totals = Totals()
    totals.add(bins, total)
    assert totals.count == 5 and math.isclose(totals.sum, 19.2)
    # a value equal to a bound counts under it (le), and bins are 2 significant digits wide
    assert totals.quantile(1.0) == 12 and 2.9 <= totals.quantile(0.5) <= 3
    assert totals.quantile(0.0) == 0.49
    assert math.isnan(totals.quantile(0.5, interval=True))
    totals.rotate()
    assert not math.isnan(totals.quantile(0.5, interval=True))
    assert totals.cumulative()[:4] == [(0.5, 1), (1, 2), (5, 4), (10, 4)]
    assert totals.cumulative((2.95, 100)) == [(2.95, 3), (100, 5)]   # half of (2.9, 3]: rounded down


def test_workers_histograms_merge_by_adding_bins():
    totals, first, second = Totals(), Recorder(), Recorder()
    for value in (1, 2, 40):
        first.record(value)
    second.record(2)
    totals.add(*first.take())
    totals.add(*second.take())
    assert totals.count == 4 and totals.cumulative((1, 2, 39, 40)) == [(1, 1), (2, 3), (39, 3), (40, 4)]


def test_bins_hold_every_value_between_their_edges():
    for value in (1e-9, 0.0005, 0.3, 0.5, 1, 7, 9.99, 10, 99.99, 100, 123.4, 3_600_000):
        lower, upper = bin_edges(bin_of(value))
        assert lower < value <= upper and (upper - lower) / upper <= 0.1
    assert bin_edges(bin_of(0)) == (0.0, 0.0) and bin_of(-1) == bin_of(0)


def test_text_rendering_sorts_and_prints_quantiles_as_envoy():
    totals = Totals()
    totals.add([bin_of(1), 2], 2)
    text = render.text({"b": 1, "a": 2}, {"h": totals, "empty": Totals()})
    lines = text.splitlines()
    assert lines[:2] == ["a: 2", "b: 1"]
    assert lines[2] == "empty: No recorded values"
    assert lines[3].startswith("h: P0(nan,0.99) P25(nan,0.992") and lines[3].endswith(" P100(nan,1)")


def test_json_rendering_is_compact_with_null_quantiles():
    text = render.as_json({"a": 1}, {"h": Totals()})
    assert text.startswith('{"stats":[{"name":"a","value":1},{"histograms":')
    assert '"interval":null' in text and not text.endswith("\n")
