"""Histograms: workers record into a ``Recorder``, the arbiter adds the shipped deltas into a
``Totals``.

Values fall into log-linear bins of two significant decimal digits ((1.0, 1.1], (1.1, 1.2] …
(99, 100], (100, 110] …), the layout of Envoy's circllhist (upper-inclusive here). Merging workers is adding counts per
bin, and any bucket bounds (Envoy's defaults, or ``histogram_bucket_settings``, which only the
arbiter reads) and any quantile are read from the merged bins afterwards. A bin is a plain int
key (``exponent * 100 + mantissa``) so that it travels in msgpack as it is.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import _count_elements     # Counter.update's C loop, counting into any dict
from functools import lru_cache, reduce
from itertools import repeat
from math import ceil, floor, log10
from operator import add, getitem

# Envoy's default Prometheus bounds (in milliseconds for ``*_rq_time``)
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
           300000, 600000, 1800000, 3600000)

# The quantiles Envoy's /stats prints, as (label, fraction).
QUANTILES = (("P0", 0.0), ("P25", 0.25), ("P50", 0.5), ("P75", 0.75), ("P90", 0.9),
             ("P95", 0.95), ("P99", 0.99), ("P99.5", 0.995), ("P99.9", 0.999), ("P100", 1.0))

ZERO_BIN = -10**9           # values <= 0; sorts below every other bin


# Powers of ten as floats, for _scaled_bin: ``value * 10 ** k`` multiplies by the float nearest
# 10 ** k, so ``value * _POWERS[k]`` is the same float.
_POWERS = tuple(float(10 ** k) for k in range(300))
# _scaled_bin answers when the scaled value is at least this far from an integer, where rounding
# it to 9 decimals (which moves it by at most 5e-9 after the scaling) cannot change the bin;
# nearer, it computes the bin the exact way
_MARGIN = 1e-7


def bin_of(value) -> int:
    """The bin ``(lower, upper]`` holding ``value``: upper-inclusive, so that a value equal to a
    bucket bound counts under that bound's ``le``, as Prometheus defines it."""
    bins = {}
    count_bins((value,), bins)
    return next(iter(bins))


def _bin_table(first_exponent, last_exponent):
    """(points, keys) for count_bins: each bin of the decades ``10 ** first_exponent`` ..
    ``10 ** (last_exponent + 1)`` as the interval ``[lower * (1 + 1e-7), upper * (1 - 1e-7))``,
    whose values are so far from the bin's edges that ``_exact_bin``'s rounding cannot move them
    out (it moves a value by less than 1e-10 of itself). ``keys[bisect_right(points, value)]``
    is the bin of a value in one, None for a value near an edge or outside the table."""
    points, keys = [], [None]
    for exponent in range(first_exponent, last_exponent + 1):
        for mantissa in range(10, 100):
            key = exponent * 100 + mantissa
            lower, upper = bin_edges(key)
            points += [lower * (1 + 1e-7), upper * (1 - 1e-7)]
            keys += [key, None]
    return points, tuple(keys)


def count_bins(values, bins) -> None:
    """Count each of ``values`` in its bin in ``bins`` (``{bin: count}``). ``_exact_bin``
    defines the bin. Those of 0.1 µs .. 10^5 s in ms, away from the bins' edges, are found by a
    bisection and counted, all in C; the others, rare, one by one (_scaled_bin)."""
    _count_elements(bins, map(getitem, repeat(_KEYS), map(bisect_right, repeat(_POINTS), values)))
    if None in bins:
        del bins[None]
        for value in values:
            if _KEYS[bisect_right(_POINTS, value)] is None:
                key = _scaled_bin(value)
                bins[key] = bins.get(key, 0) + 1


def _scaled_bin(value) -> int:
    """``_exact_bin`` without ``round(…, 9)`` (a decimal conversion of 3,000 instructions) for a
    value not within ``_MARGIN`` of a bin edge."""
    if type(value) is float and 1e-290 < value < 1e300:
        exponent = floor(log10(value))
        if exponent >= 1:
            scaled = value / _POWERS[exponent - 1]
        else:
            scaled = value * _POWERS[1 - exponent]
        if scaled <= 10:
            exponent, scaled = exponent - 1, scaled * 10
        elif scaled > 100:
            exponent, scaled = exponent + 1, scaled / 10
        upper = ceil(scaled)
        if _MARGIN < upper - scaled < 1 - _MARGIN:
            return exponent * 100 + upper - 1
    return _exact_bin(value)


def _exact_bin(value) -> int:
    if value <= 0:
        return ZERO_BIN
    exponent = math.floor(math.log10(value))
    # rounded, so that 0.3 (a binary 0.29999…) is 30 and not 29.999… or 30.000…04
    if exponent >= 1:
        scaled = round(value / 10 ** (exponent - 1), 9)
    else:
        scaled = round(value * 10 ** (1 - exponent), 9)
    if scaled <= 10:
        exponent, scaled = exponent - 1, scaled * 10
    elif scaled > 100:
        exponent, scaled = exponent + 1, scaled / 10
    return exponent * 100 + math.ceil(scaled) - 1


@lru_cache(maxsize=4096)     # a few hundred distinct bins in practice: read at every scrape
def bin_edges(key: int) -> tuple[float, float]:
    """``(lower, upper]`` of a bin."""
    if key == ZERO_BIN:
        return 0.0, 0.0
    exponent, mantissa = divmod(key, 100)
    if exponent >= 1:
        scale = 10 ** (exponent - 1)
        return float(mantissa * scale), float((mantissa + 1) * scale)
    divisor = 10 ** (1 - exponent)     # dividing keeps 0.5 exact where multiplying by 0.1 would not
    return mantissa / divisor, (mantissa + 1) / divisor


_POINTS, _KEYS = _bin_table(-4, 7)


class Recorder:
    """Worker side: counts per bin and the sum of the values since the last ``take``; with
    ``keep_samples``, also the values themselves (at most ``limit`` per take), for stats sinks
    that send every value as Envoy's statsd sinks do.

    ``record(value)`` is the C ``append`` of the ``pending`` list, the cheapest call a request
    can make: the values are binned (``fold``) when ``take`` or ``take_samples`` reads them, and
    every second by the worker (process/worker.py), which bounds what it holds. The bins, the
    sum (added in the order recorded) and the samples are what binning each value as it came
    gave: the output is the same."""
    __slots__ = ("pending", "record", "bins", "sum", "samples", "sample_limit", "samples_dropped")

    def __init__(self):
        self.pending = []
        self.record = self.pending.append
        self.bins = {}
        self.sum = 0.0
        self.samples = None
        self.sample_limit = 0
        self.samples_dropped = 0

    def keep_samples(self, limit: int) -> None:
        self.samples = []
        self.sample_limit = limit

    def fold(self, limit=None):
        """The pending values (at most ``limit`` of them, the oldest) into the bins, the sum and
        the samples. True when some are left pending."""
        pending = self.pending
        if not pending:
            return False
        if limit is not None and len(pending) > limit:
            values = pending[:limit]
            del pending[:limit]     # the same list: ``record`` appends to it still
        else:
            values = pending
            self.pending = []
            self.record = self.pending.append
        count_bins(values, self.bins)
        self.sum = reduce(add, values, self.sum)    # in order, one addition a value, as recorded
        samples = self.samples
        if samples is not None:
            room = self.sample_limit - len(samples)
            samples.extend(values[:room] if room > 0 else ())
            self.samples_dropped += max(len(values) - max(room, 0), 0)
        return bool(self.pending)

    def take(self):
        """``(flat bins [key, count, key, count …], sum)`` recorded since the last take, or None
        if nothing was."""
        self.fold()
        if not self.bins:
            return None
        flat = [item for pair in self.bins.items() for item in pair]
        delta = (flat, self.sum)
        self.bins = {}
        self.sum = 0.0
        return delta

    def take_samples(self):
        """``(values, dropped)`` since the last call, or None when there are none."""
        self.fold()
        if not self.samples and not self.samples_dropped:
            return None
        taken = (self.samples, self.samples_dropped)
        self.samples = []
        self.samples_dropped = 0
        return taken


class Totals:
    """Arbiter side: the merged bins of one histogram since the start (``bins``), and those of
    the last complete flush interval (``interval``), as Envoy's summaries show both."""
    __slots__ = ("bins", "sum", "count", "used", "interval", "_current")

    def __init__(self):
        self.bins = {}
        self.sum = 0.0
        self.count = 0
        self.used = False
        self.interval = None
        self._current = {}

    def add(self, flat, total):
        bins, current = self.bins, self._current
        for index in range(0, len(flat), 2):
            key, count = flat[index], flat[index + 1]
            bins[key] = bins.get(key, 0) + count
            current[key] = current.get(key, 0) + count
            self.count += count
        self.sum += total
        self.used = True

    def rotate(self):
        """A flush interval ended: what arrived during it becomes ``interval``."""
        self.interval = self._current
        self._current = {}

    def cumulative(self, bounds=BUCKETS):
        """``[(bound, values <= bound)]`` for every bound (sorted), for Prometheus' ``_bucket``
        lines (``+Inf`` is ``count``). A bin that a bound cuts counts in proportion, rounded
        down. One walk over the sorted bins and bounds."""
        ordered = sorted(self.bins.items())
        out, below, index = [], 0, 0
        for bound in bounds:
            while index < len(ordered) and bin_edges(ordered[index][0])[1] <= bound:
                below += ordered[index][1]
                index += 1
            partial = 0.0
            if index < len(ordered):
                lower, upper = bin_edges(ordered[index][0])
                if lower < bound:
                    partial = ordered[index][1] * (bound - lower) / (upper - lower)
            out.append((bound, int(below + partial)))
        return out

    def quantile(self, fraction, interval=False):
        """An estimate of the ``fraction`` quantile (of the last interval with ``interval``),
        interpolating linearly inside the bin it falls in; NaN when nothing was recorded."""
        return self.quantiles((fraction,), interval)[0]

    def quantiles(self, fractions, interval=False):
        """``quantile`` of each of ``fractions`` (ascending), in one walk over the bins."""
        bins = (self.interval or {}) if interval else self.bins
        total = sum(bins.values())
        if total == 0:
            return [math.nan] * len(fractions)
        ordered = sorted(bins.items())
        out, running, index = [], 0, 0
        for fraction in fractions:
            rank = fraction * total
            while index < len(ordered) - 1 and (not ordered[index][1] or running + ordered[index][1] < rank):
                running += ordered[index][1]
                index += 1
            key, count = ordered[index]
            lower, upper = bin_edges(key)
            out.append(lower + (upper - lower) * min(max(rank - running, 0) / count, 1.0))
        return out
