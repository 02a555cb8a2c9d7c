"""stats_config's stats_matcher and histogram_bucket_settings (stats/selection.py), and the store
forgetting what the matcher rejects."""
from hotproxy.config.bootstrap import HistogramBuckets, StatsConfig, StatsMatcher
from hotproxy.config.core import StringMatcher
from hotproxy.stats.histogram import BUCKETS, Recorder
from hotproxy.stats.selection import StatsSelection
from hotproxy.stats.store import StatsStore


def selection(matcher=None, buckets=()):
    return StatsSelection(StatsConfig(stats_matcher=matcher, histogram_bucket_settings=buckets))


def test_without_a_matcher_every_stat_exists():
    assert StatsSelection().accepts("cluster.a.upstream_rq_total")
    assert selection(StatsMatcher("reject_all", reject_all=False)).accepts("x")


def test_reject_all_and_lists():
    assert not selection(StatsMatcher("reject_all", reject_all=True)).accepts("server.live")
    exclude = selection(StatsMatcher("exclusion_list", patterns=(
        StringMatcher("prefix", "cluster."), StringMatcher("safe_regex", r".*_rq_time"))))
    assert not exclude.accepts("cluster.a.upstream_rq_total")
    assert not exclude.accepts("http.in.downstream_rq_time")
    assert exclude.accepts("http.in.downstream_rq_timeout")      # a regex matches the whole name
    include = selection(StatsMatcher("inclusion_list", patterns=(StringMatcher("suffix", "_total"),)))
    assert include.accepts("http.in.downstream_rq_total") and not include.accepts("server.live")


def test_the_first_matching_bucket_setting_wins_else_envoys_defaults():
    chosen = selection(buckets=(HistogramBuckets(StringMatcher("prefix", "cluster.a."), (1.0, 5.0)),
                                HistogramBuckets(StringMatcher("prefix", "cluster."), (9.0,))))
    assert chosen.bucket_bounds("cluster.a.upstream_rq_time") == (1.0, 5.0)
    assert chosen.bucket_bounds("cluster.b.upstream_rq_time") == (9.0,)
    assert chosen.bucket_bounds("http.in.downstream_rq_time") == BUCKETS


def test_the_store_never_creates_rejected_stats_and_forgets_them_when_the_config_changes():
    store = StatsStore()
    recorder = Recorder()
    recorder.record(3)
    store.merge("w0", {"c": {"cluster.a.x": 1, "http.in.y": 2}, "g": {"cluster.a.g": 1},
                       "h": {"cluster.a.upstream_rq_time": list(recorder.take())}})
    store.select(selection(StatsMatcher("exclusion_list", patterns=(StringMatcher("prefix", "cluster."),))))
    assert store.counters == {"http.in.y": 2} and not store.histograms
    store.merge("w0", {"c": {"cluster.a.x": 1}, "g": {"cluster.a.g": 1}})
    assert "cluster.a.x" not in store.counters and "cluster.a.g" not in store.gauges()


def test_histogram_values_for_sinks_are_bounded_and_the_overflow_counted():
    store = StatsStore()
    store.merge("w0", {"hs": {"h": [[1.0] * 10, 2]}})
    assert store.take_samples() == {"h": [1.0] * 10} and store.take_samples() == {}
    assert store.counters["statsd.samples_dropped"] == 2
