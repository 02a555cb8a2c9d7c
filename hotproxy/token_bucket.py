"""Token buckets for the local rate limit filters (HTTP and network), as Envoy 1.40's
``AtomicTokenBucketImpl``: tokens come back continuously at ``tokens_per_fill / fill_interval``
a second up to ``max_tokens``, and the whole state is one number, the time ``T`` at which the
bucket was (or will be) empty: it holds ``min(max_tokens, (now - T) * rate)`` tokens.

Envoy shares a filter's buckets among the worker threads of its one process. hotproxy runs one
process per core, so a bucket lives in the table of shared counters the arbiter makes for the
circuit breakers (listener/connection_counts.py), with no lock (process/ratelimit_buckets.py
keeps the cells):

- ``T`` is in nanoseconds of CLOCK_MONOTONIC (one clock for every process of the machine), plus
  2**61 so that a counter of zeros is long ago;
- taking a token adds the time one token is worth to this worker's cell, then reads ``T``: past
  ``now``, the token was not there and the addition is taken back. Two workers racing for the
  last token both see each other's addition and both refuse rather than both take it (as
  OptimisticCounter, with the same caveat of a store still in a core's buffer);
- a bucket that has been full for a while has ``T`` far in the past: it is raised to
  ``now - max_tokens / rate`` first (two raises at once do not add up).

When a worker process exits, the arbiter zeroes its cells: what it added goes, and the bucket
may refill up to full (a reload's draining workers exiting, or a crash). Envoy's buckets start
full on a reload too.

Without the shared table (unit tests, a bucket per connection) the same arithmetic runs on one
in-process cell.
"""
from __future__ import annotations

import time

_NS = 1_000_000_000
#: added to the clock, so that a counter of zeros (a bucket never used, or given back) is a time
#: long enough ago for any bucket to be full, however recently the machine booted
EPOCH = 2**61

#: ``open(key) -> cells or None``: the worker's shared table (process/ratelimit_buckets.py)
_shared_cells = None
#: key → the TokenBucket of this process, so that every factory of one config shares it
_by_key = {}


def share_through(open_cells):
    """Install the worker's shared table: ``open_cells(key)`` returns the cells of a bucket's
    counter, or None when the arbiter made none for ``key``."""
    global _shared_cells
    _shared_cells = open_cells
    _by_key.clear()


def shared_bucket(key, config):
    """The process's bucket for ``key`` (a config's location, see bucket_keys): in the shared
    table when there is one for it, else in this process."""
    bucket = _by_key.get(key)
    if bucket is None or bucket.config != config:
        cells = _shared_cells(key) if _shared_cells is not None else None
        bucket = _by_key[key] = TokenBucket(config, cells)
    return bucket


class LocalCells:
    """One cell in this process."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0

    def total(self):
        return self.value

    def take(self, cost, floor, now):
        """Add ``cost`` to ``T``, raised to ``floor`` first; past ``now``, take it back: whether
        the token was there."""
        value = self.value
        if value < floor:
            value = floor
        if value + cost > now:
            self.value = value
            return False
        self.value = value + cost
        return True


class TokenBucket:
    """``config``: a TokenBucket config (max_tokens, tokens_per_fill, fill_interval seconds).
    ``clock``: monotonic nanoseconds (tests pass a fake)."""

    __slots__ = ("config", "max_tokens", "cost", "burst", "cells", "clock")

    def __init__(self, config, cells=None, clock=time.monotonic_ns):
        self.config = config
        self.max_tokens = config.max_tokens
        self.cost = round(config.fill_interval * _NS / config.tokens_per_fill)   # ns a token
        self.burst = min(self.max_tokens * self.cost, EPOCH)
        self.cells = cells if cells is not None else LocalCells()
        self.clock = clock

    def consume(self):
        """Take one token if there is one."""
        now = self.clock() + EPOCH
        return self.cells.take(self.cost, now - self.burst, now)

    def tokens(self):
        """The tokens there are now, with the fraction of the next one."""
        return min(self.max_tokens, (self.clock() + EPOCH - self.cells.total()) / self.cost)

    def remaining(self):
        """Whole tokens left (x-ratelimit-remaining)."""
        return max(int(self.tokens()), 0)

    def reset_seconds(self):
        """Seconds until the next token (x-ratelimit-reset), as Envoy 1.40 rounds them: whole
        milliseconds, then seconds up."""
        tokens = self.tokens()
        if tokens >= 1:
            return 0
        milliseconds = int((1 - tokens) * self.cost / 1_000_000)
        return -(-milliseconds // 1000)
