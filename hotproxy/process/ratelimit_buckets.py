"""The local rate limit filters' token buckets in the table of counters shared by the arbiter
and its workers (listener/connection_counts.py; the arithmetic is in token_bucket.py).

``bucket_keys(bootstrap)``: the arbiter makes one counter per bucket of every local_ratelimit
config (HTTP filter, per-route config, network filter) found anywhere in the bootstrap; the
keys come from where each config sits, so that the same config in the next generation goes on
with the same buckets while the old one drains. ``share(counts)``: a worker hands its mapped
table to token_bucket.py.
"""
from __future__ import annotations

import struct

from .. import token_bucket
from ..listener.connection_counts import SLOTS

_CELL = 8
#: the second counter of each bucket (SharedCells)
RAISED = " raised"


def bucket_keys(bootstrap) -> list[str]:
    """The keys of every shared bucket of ``bootstrap``'s local rate limits: network filters,
    HTTP filters and the per-route configs of the connection managers' routes."""
    keys = []
    for listener in bootstrap.listeners:
        for chain in listener.all_filter_chains():
            for config in chain.filters:
                keys += _keys_of(config)
                for entry in getattr(config, "http_filters", ()):
                    keys += _keys_of(entry.config)
                route_config = getattr(config, "route_config", None)
                if route_config is not None:
                    keys += _route_keys(route_config)
    return [counter for key in keys for counter in (key, key + RAISED)]


def _route_keys(route_config):
    keys = []
    for vhost in route_config.virtual_hosts:
        owners = [vhost]
        for route in vhost.routes:
            owners.append(route)
            if route.route is not None:
                owners.extend(route.route.weighted_clusters)
        for owner in owners:
            for _, entry in owner.typed_per_filter_config:
                keys += _keys_of(getattr(entry, "config", entry))
    return keys


def _keys_of(config):
    bucket_keys_of = getattr(config, "bucket_keys", None)
    return bucket_keys_of() if bucket_keys_of is not None else []


def share(counts):
    """Make the worker's buckets live in ``counts`` (its WorkerCounts)."""
    def open_cells(key):
        consumed = counts.columns.get(key)
        raised = counts.columns.get(key + RAISED)
        if consumed is None or raised is None:
            return None
        return SharedCells(counts, consumed, raised)
    token_bucket.share_through(open_cells)


class SharedCells:
    """One bucket's two counters; this worker writes only its own cell of each:

    - ``consumed``: the time its tokens were worth (it adds and takes back);
    - ``raised``: how far it last had to raise the bucket's ``T`` above the consumed sum to keep the
      bucket at ``max_tokens`` (a full bucket).

    ``T`` is the consumed sum plus the highest raise. Two workers raising at once compute the
    same raise from the same sums; taking the highest instead of adding them means they never
    add up, with no lock. A raise is computed from the consumed sum ``total`` just read: a token
    another worker took since then counts on top of it.
    """

    __slots__ = ("_consumed", "_raised", "_slot", "_cells", "_mapped", "_consumed_at",
                 "_raised_at", "_count", "_unpack", "_consumed_sum")

    def __init__(self, counts, consumed_column, raised_column):
        self._slot = counts.slot
        self._cells = counts._cells
        self._mapped = counts._mapped
        self._consumed, self._consumed_at = self._row(counts, consumed_column)
        self._raised, self._raised_at = self._row(counts, raised_column)
        self._count = self._unpack = None
        self._consumed_sum = 0

    @staticmethod
    def _row(counts, column):
        start = 1 + column * SLOTS
        return counts._cells[start:start + SLOTS], start * _CELL

    def total(self):
        count = self._cells[0]          # worker slots ever handed out
        if count != self._count:
            self._count, self._unpack = count, struct.Struct(f"{count}q").unpack_from
        unpack, mapped = self._unpack, self._mapped
        consumed = self._consumed_sum = sum(unpack(mapped, self._consumed_at))
        raised = max(unpack(mapped, self._raised_at))
        return consumed + raised if raised > 0 else consumed

    def add(self, delta):
        self._consumed[self._slot] += delta

    def raise_to(self, floor):
        """Called right after ``total()`` came out under ``floor``."""
        self._raised[self._slot] = floor - self._consumed_sum

    def take(self, cost, floor, now):
        """TokenBucket.consume's step in one read of the cells: add ``cost`` to this worker's
        cell, then read ``T`` (every worker's addition so far, this one's included); under
        ``floor`` before this addition, raise it there; past ``now``, take the addition back.
        Reading after adding is what makes two workers racing for the last token both refuse."""
        consumed_cells, slot = self._consumed, self._slot
        consumed_cells[slot] += cost
        count = self._cells[0]
        if count != self._count:
            self._count, self._unpack = count, struct.Struct(f"{count}q").unpack_from
        unpack, mapped = self._unpack, self._mapped
        consumed = sum(unpack(mapped, self._consumed_at))
        raised = max(unpack(mapped, self._raised_at))
        before = consumed - cost
        if raised > 0:
            before += raised
        if before < floor:
            self._raised[slot] = floor - (consumed - cost)
            before = floor
        if before + cost > now:
            consumed_cells[slot] -= cost
            return False
        return True
