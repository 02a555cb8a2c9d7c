"""compare.py's report says when Envoy's own figure moved by more than 10% between repetitions."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from compare_tables import http_envoy_moved, memory_table, reload_table  # noqa: E402
from spread import movement, moved_note  # noqa: E402


def row(cpu_us, p99=1.0):
    return {"cpu_us": cpu_us, "p99": p99, "rps": 1000.0, "p50": 0.5, "errors": 0}


def test_movement_is_the_range_over_the_median():
    assert movement([90.0, 100.0, 110.0]) == 0.2
    assert movement([50.0]) == 0.0              # one repetition: nothing to compare
    assert movement([float("nan"), 5.0]) == 0.0  # a figure not measured says nothing


def test_a_spread_of_more_than_ten_percent_is_called_out_with_its_range():
    note = moved_note("Envoy's CPU per request at 12 B, c=50,", [row(48.0), row(55.0), row(50.0)], "cpu_us", "µs")
    assert note is not None
    assert "14%" in note and "48.00-55.00 µs" in note


def test_ten_percent_or_less_is_not_called_out():
    assert moved_note("x", [row(100.0), row(105.0), row(110.0)], "cpu_us", "µs") is None


def test_only_envoys_points_that_moved_are_named():
    args = argparse.Namespace(conns=[50, 200])
    samples = {("12 B", 50, "envoy"): [row(48.0), row(60.0)],          # 22%: moved
               ("12 B", 200, "envoy"): [row(50.0), row(51.0)],         # 2%: steady
               ("12 B", 200, "hotproxy"): [row(30.0), row(60.0)]}      # not Envoy: not a reference
    notes = http_envoy_moved(samples, args)
    assert len(notes) == 1
    assert "12 B, c=50" in notes[0]


def test_the_memory_table_compares_kb_per_idle_connection_with_envoys():
    sample = {"holders": 1, "rss_mb_per_holder": 40.0, "tree_rss_mb": 100.0, "tree_rss_mb_loaded": 160.0,
              "open": 5000, "failed": 0}
    table = memory_table({"envoy": [{**sample, "kb_per_conn": 16.0}],
                          "hotproxy": [{**sample, "kb_per_conn": 12.0}]})
    assert "| hotproxy | 40.0 | 100.0 | 12.0 | 0.75x | 5000 | 0 |" in table


def test_the_reload_table_gives_what_reloads_added_to_p99():
    steady = {"rps": 1000.0, "p50": 1.0, "p99": 4.0, "errors": 0, "reloads": 0, "generations": 0, "every_s": 1.0}
    reloading = {**steady, "p99": 5.5, "reloads": 10, "generations": 9, "errors": 2}
    table = reload_table({("hotproxy SIGHUP", 50, "steady"): [steady],
                          ("hotproxy SIGHUP", 50, "reload"): [reloading]})
    assert "| hotproxy SIGHUP | every 1 s | 50 | 1000 | 1.00 | 5.50 | 4.00 | +1.50 | 9 of 10 | 2 (steady 0) |" in table
