"""/stats in Envoy's text and JSON shapes (Prometheus: stats/prometheus.py)."""
from __future__ import annotations

import json
import math

from .histogram import QUANTILES


def text(counters_and_gauges, histograms):
    """``name: value`` lines sorted by name, then one line per histogram with each quantile as
    ``P50(interval,cumulative)``, or "No recorded values"."""
    lines = [f"{name}: {value}" for name, value in sorted(counters_and_gauges.items())]
    for name, totals in sorted(histograms.items()):
        if not totals.count:
            lines.append(f"{name}: No recorded values")
            continue
        fractions = [q for _label, q in QUANTILES]
        intervals, cumulatives = totals.quantiles(fractions, interval=True), totals.quantiles(fractions)
        parts = [f"{label}({_number(interval)},{_number(cumulative)})"
                 for (label, _q), interval, cumulative in zip(QUANTILES, intervals, cumulatives)]
        lines.append(f"{name}: {' '.join(parts)}")
    return "".join(line + "\n" for line in lines)


def as_json(counters_and_gauges, histograms):
    stats = [{"name": name, "value": value} for name, value in sorted(counters_and_gauges.items())]
    if histograms:
        computed = []
        fractions = [q for _label, q in QUANTILES]
        for name, totals in sorted(histograms.items()):
            values = [{"interval": _json_number(interval), "cumulative": _json_number(cumulative)}
                      for interval, cumulative in zip(totals.quantiles(fractions, interval=True),
                                                      totals.quantiles(fractions))]
            computed.append({"name": name, "values": values})
        stats.append({"histograms": {
            "supported_quantiles": [q * 100 for _label, q in QUANTILES],
            "computed_quantiles": computed}})
    return json.dumps({"stats": stats}, separators=(",", ":"))


def _number(value):
    """Shortest round-trip form, without a trailing ".0", as Envoy prints quantiles."""
    if math.isnan(value):
        return "nan"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _json_number(value):
    return None if math.isnan(value) else value
