"""The local rate limit filters' token buckets in the table of counters shared by the arbiter
and its workers (listener/connection_counts.py; the arithmetic is in token_bucket.py).

``bucket_keys(bootstrap)``: the arbiter makes one counter per bucket of every local_ratelimit
config (HTTP filter, per-route config, network filter) found anywhere in the bootstrap; the
keys come from where each config sits, so that the same config in the next generation goes on
with the same buckets while the old one drains. ``share(counts)``: a worker hands its mapped
table to token_bucket.py.
"""
from __future__ import annotations

import fcntl
import struct

from .. import token_bucket
from ..listener.connection_counts import SLOTS

_CELL = 8


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
    return keys


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
        column = counts.columns.get(key)
        return None if column is None else SharedCells(counts, column)
    token_bucket.share_through(open_cells)


class SharedCells:
    """One bucket's counter: this worker adds to its own cell; the sum is the bucket's ``T``."""

    __slots__ = ("_row", "_slot", "_cells", "_mapped", "_row_at", "_fd")

    def __init__(self, counts, column):
        start = 1 + column * SLOTS
        self._row = counts._cells[start:start + SLOTS]
        self._slot = counts.slot
        self._cells = counts._cells
        self._mapped = counts._mapped
        self._row_at = start * _CELL
        self._fd = counts.fd

    def total(self):
        return sum(_unpacker(self._cells[0])(self._mapped, self._row_at))

    def add(self, delta):
        self._row[self._slot] += delta

    def raise_to(self, floor):
        fcntl.lockf(self._fd, fcntl.LOCK_EX, _CELL, self._row_at)
        try:
            total = self.total()
            if total < floor:
                self._row[self._slot] += floor - total
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, _CELL, self._row_at)


_UNPACKERS = {}


def _unpacker(count):
    unpack = _UNPACKERS.get(count)
    if unpack is None:
        unpack = _UNPACKERS[count] = struct.Struct(f"{count}q").unpack_from
    return unpack
