"""Envoy's /stats/prometheus: the Prometheus text exposition (version 0.0.4) of counters, gauges
and histograms, laid out as Envoy's source/server/admin/prometheus_stats.cc lays it out.

A metric family is ``envoy_`` and the tag-extracted stat name, with every character Prometheus
does not allow in a name replaced by ``_``; the tags are its labels. Counters come first, then
gauges, then histograms, each type's families sorted by name, with no blank lines between them
(as a real Envoy 1.40 prints them: docs/envoy-reference.md).
"""
from __future__ import annotations

import re

from .histogram import BUCKETS, Totals
from .tags import TagExtractor

_NOT_IN_NAMES = re.compile(r"[^a-zA-Z0-9_]")


def render(counters: dict[str, int], gauges: dict[str, int], histograms: dict[str, Totals],
           extractor: TagExtractor, bucket_bounds=lambda name: BUCKETS) -> str:
    """``bucket_bounds(histogram name)``: its ``le`` bounds (histogram_bucket_settings)."""
    out = []
    bounded = {name: (totals, bucket_bounds(name)) for name, totals in histograms.items()}
    for stats, kind, write in ((counters, "counter", _write_number),
                               (gauges, "gauge", _write_number),
                               (bounded, "histogram", _write_histogram)):
        families = _families(stats, extractor)
        for family in sorted(families):
            out.append(f"# TYPE {family} {kind}\n")
            samples = families[family]
            for labels in sorted(samples):
                write(out, family, labels, samples[labels])
    return "".join(out)


def _families(stats: dict, extractor: TagExtractor) -> dict[str, dict[str, object]]:
    """``{family: {label text: value}}``. Stats that come to the same family and labels (say
    ``a.b`` and ``a_b``) would be duplicate samples, which Prometheus rejects: of those, the first
    by stat name is kept and the others are left out."""
    families: dict[str, dict[str, object]] = {}
    for name in sorted(stats):
        extracted, tags = extractor.extract(name)
        samples = families.setdefault("envoy_" + _NOT_IN_NAMES.sub("_", extracted), {})
        samples.setdefault(_labels(tags), stats[name])
    return families


def _labels(tags) -> str:
    return ",".join(f'{_NOT_IN_NAMES.sub("_", name)}="{_escape(value)}"' for name, value in tags)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _write_number(out: list, family: str, labels: str, value: int) -> None:
    out.append(f"{family}{{{labels}}} {value}\n")


def _write_histogram(out: list, family: str, labels: str, histogram) -> None:
    totals, bounds = histogram
    bucket_labels = labels + "," if labels else ""
    for bound, count in totals.cumulative(bounds):
        # Envoy prints bounds and sums with ``{:.32g}``: 0.5, 1, 3600000
        out.append(f'{family}_bucket{{{bucket_labels}le="{format(float(bound), ".32g")}"}} {count}\n')
    count = totals.count
    out.append(f'{family}_bucket{{{bucket_labels}le="+Inf"}} {count}\n')
    out.append(f"{family}_sum{{{labels}}} {format(totals.sum, '.32g')}\n")
    out.append(f"{family}_count{{{labels}}} {count}\n")
