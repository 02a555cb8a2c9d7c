"""The delay before a failed xDS stream is opened again: Envoy's
JitteredExponentialBackOffStrategy (base 500 ms, max 30 s for xDS streams). The n-th delay in a
row is drawn uniformly from [0, min(base * 2**n, max)) (full jitter), so that proxies cut off
from their control plane together do not come back together; a response on the stream resets
it."""
from __future__ import annotations

import random


class Backoff:
    def __init__(self, base: float = 0.5, maximum: float = 30.0, rng=random.random):
        if not 0 < base <= maximum:
            raise ValueError("backoff needs 0 < base <= maximum")
        self.base = base
        self.maximum = maximum
        self._rng = rng
        self._interval = base

    def next(self) -> float:
        """The next delay, in seconds; the interval it is drawn from doubles up to the max."""
        interval = self._interval
        self._interval = min(interval * 2, self.maximum)
        return self._rng() * interval

    def reset(self):
        self._interval = self.base
