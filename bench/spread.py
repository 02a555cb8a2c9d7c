"""Medians of interleaved repetitions, and when a reference figure moved between them."""
from __future__ import annotations

import statistics

#: a reference (Envoy) figure whose repetitions differ by more than this is called out
MOVED_THRESHOLD = 0.10


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def movement(values):
    """(max - min) / median of the values: how far the repetitions of one figure spread. 0.0 for
    fewer than two values or a zero median (nothing to compare)."""
    values = [v for v in values if v == v]  # nan (a figure not measured) says nothing
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    if middle == 0:
        return 0.0
    return (max(values) - min(values)) / abs(middle)


def moved_note(label, rows, key, unit, threshold=MOVED_THRESHOLD):
    """A sentence when the repetitions of ``rows[*][key]`` moved by more than ``threshold``, else
    None. ``label`` says which point, e.g. ``envoy 12 B c=50 CPU µs/req``."""
    values = [r[key] for r in rows if r[key] == r[key]]
    spread = movement(values)
    if spread <= threshold:
        return None
    return (f"{label} moved {spread * 100:.0f}% between repetitions "
            f"({min(values):.2f}-{max(values):.2f} {unit}): read that point's ratios with care")
