"""Fixed-bucket histograms: workers record into a ``Recorder``, the arbiter adds the shipped bucket
deltas into a ``Totals``. Buckets are Envoy's defaults (in milliseconds for ``*_rq_time``), so
merging is adding counts and Prometheus sees the ``le`` bounds Envoy's exposition has."""
from __future__ import annotations

import math
from bisect import bisect_left

BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
           300000, 600000, 1800000, 3600000)

# The quantiles Envoy's /stats prints, as (label, fraction).
QUANTILES = (("P0", 0.0), ("P25", 0.25), ("P50", 0.5), ("P75", 0.75), ("P90", 0.9),
             ("P95", 0.95), ("P99", 0.99), ("P99.5", 0.995), ("P99.9", 0.999), ("P100", 1.0))


class Recorder:
    """Worker side: one count per bucket (the last one for values above every bound) and the sum
    of the values since the last ``take``."""
    __slots__ = ("counts", "sum", "recorded")

    def __init__(self):
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.recorded = False

    def record(self, value):
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le = less or equal)
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.sum += value
        self.recorded = True

    def take(self):
        """``(counts, sum)`` recorded since the last take, or None if nothing was."""
        if not self.recorded:
            return None
        delta = (self.counts, self.sum)
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.recorded = False
        return delta


class Totals:
    """Arbiter side: the merged counts of one histogram since the start (``counts``), and those
    of the last complete flush interval (``interval``), as Envoy's summaries show both."""
    __slots__ = ("counts", "sum", "used", "interval", "_current")

    def __init__(self):
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.used = False
        self.interval = None
        self._current = [0] * (len(BUCKETS) + 1)

    def add(self, counts, total):
        for index, count in enumerate(counts):
            self.counts[index] += count
            self._current[index] += count
        self.sum += total
        self.used = True

    def rotate(self):
        """A flush interval ended: what arrived during it becomes ``interval``."""
        self.interval = self._current
        self._current = [0] * (len(BUCKETS) + 1)

    @property
    def count(self):
        return sum(self.counts)

    def cumulative(self):
        """``[(bound, values <= bound)]`` for every bound, for Prometheus' ``_bucket`` lines
        (``+Inf`` is ``count``)."""
        running, out = 0, []
        for bound, count in zip(BUCKETS, self.counts):
            running += count
            out.append((bound, running))
        return out

    def quantile(self, fraction, interval=False):
        """An estimate of the ``fraction`` quantile (of the last interval with ``interval``),
        interpolating linearly inside the bucket it falls in; NaN when nothing was recorded."""
        counts = (self.interval or ()) if interval else self.counts
        total = sum(counts)
        if total == 0:
            return math.nan
        rank = fraction * total
        running = 0
        for index, count in enumerate(counts):
            if count and running + count >= rank:
                lower = BUCKETS[index - 1] if index else 0.0
                upper = BUCKETS[index] if index < len(BUCKETS) else lower * 2
                return lower + (upper - lower) * max(rank - running, 0) / count
            running += count
        return float(BUCKETS[-1])
