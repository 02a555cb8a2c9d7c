"""The local rate limit filters' token buckets in the table of counters shared by the arbiter
and its workers (listener/connection_counts.py; the arithmetic is in token_bucket.py).

``bucket_keys(bootstrap)``: the arbiter makes one counter per bucket of every local_ratelimit
config (HTTP filter, per-route config, network filter) found anywhere in the bootstrap; the
keys come from where each config sits, so that the same config in the next generation goes on
with the same buckets while the old one drains. ``share(counts)``: a worker hands its mapped
table to token_bucket.py.
"""
from __future__ import annotations

import dataclasses
import fcntl
import struct

from .. import token_bucket
from ..listener.connection_counts import SLOTS

_CELL = 8


def bucket_keys(bootstrap) -> list[str]:
    keys = []
    _collect(bootstrap, keys)
    return keys


def _collect(value, keys):
    if value is None or isinstance(value, (str, bytes, int, float)):
        return
    if isinstance(value, (tuple, list)):
        for item in value:
            _collect(item, keys)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, keys)
    elif callable(getattr(value, "bucket_keys", None)):
        keys.extend(value.bucket_keys())
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            _collect(getattr(value, field.name), keys)
    else:       # slotted config holders (parse_http_filters.FilterConfig)
        for name in getattr(type(value), "__slots__", ()):
            _collect(getattr(value, name, None), keys)


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
