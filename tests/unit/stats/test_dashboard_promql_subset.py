"""The PromQL subset deploy/observability/render_dashboard_pngs.py plots the dashboard with: it
must compute what Prometheus would for the dashboard's query shapes."""
import json
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "observability"
sys.path.insert(0, str(DEPLOY))
from promql_subset import Series, evaluate, parse_exposition  # noqa: E402


def scrapes(*texts, step=2.0):
    return Series([(index * step, parse_exposition(text)) for index, text in enumerate(texts)])


def test_rate_adds_back_a_counter_reset_and_sums_by_label():
    series = scrapes('c_total{a="x",b="1"} 10\nc_total{a="x",b="2"} 0',
                     'c_total{a="x",b="1"} 20\nc_total{a="x",b="2"} 4',
                     'c_total{a="x",b="1"} 5\nc_total{a="x",b="2"} 8')       # b=1 restarted
    assert evaluate('sum by (a) (rate(c_total{a=~".*"}[10s]))', series, 4.0) == {(("a", "x"),): (10 + 5 + 8) / 4}
    assert evaluate('sum(increase(c_total{b="2"}[10s]))', series, 4.0) == {(): 8}


def test_histogram_quantile_interpolates_in_the_bucket_as_prometheus():
    text = "\n".join(f'h_bucket{{c="k",le="{le}"}} {count}' for le, count in
                     (("10", 0), ("50", 50), ("100", 100), ("+Inf", 100)))
    series = scrapes(text.replace(" 50", " 0").replace(" 100", " 0"), text)
    result = evaluate('histogram_quantile(0.75, sum by (le, c) (rate(h_bucket{c="k"}[10s])))', series, 2.0)
    assert result == {(("c", "k"),): pytest.approx(75.0)}


def test_division_matches_label_sets():
    series = scrapes('ok{c="a"} 1\nok{c="b"} 0\nall{c="a"} 2\nall{c="b"} 2')
    assert evaluate('sum by (c) (ok{c=~".*"}) / sum by (c) (all{c=~".*"})', series, 0) == \
        {(("c", "a"),): 0.5, (("c", "b"),): 0.0}


def test_every_query_of_the_dashboard_parses():
    dashboard = json.loads((DEPLOY / "hotproxy-dashboard.json").read_text())
    variables = {"$__rate_interval": "10s", "$job": ".*", "$instance": ".*"}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert evaluate(target["expr"], scrapes(""), 0, variables) == {}
