"""Connection counts shared by every worker process: the limits that hold across workers (the
overload manager's ``global_downstream_max_connections``, each ``connection_limit`` filter) count
in one memfd that the arbiter creates and every worker maps.

Each limit is a counter with one cell per worker process. A worker writes only its own cell, so
what a dead worker held is known exactly: the arbiter zeroes its cells when it reaps it. A
counter's value is the sum of its cells. Taking a place checks the sum and adds to the own cell
under a POSIX record lock on the counter's first bytes, so two workers racing for the last place
never both get it (and the kernel drops the lock of a holder that dies). Giving a place back is a
plain store: a reader that still sees the old value only refuses early.

Layout: int64 cells. Cell 0 holds how many worker slots were ever handed out (the high-water mark
every sum stops at); counter ``c`` takes cells ``1 + c*SLOTS`` up to ``1 + (c+1)*SLOTS``. The file
grows by whole counters and never moves one, so a worker keeps the view it mapped at start.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import struct

from ..config.overload import DOWNSTREAM_CONNECTIONS, runtime_limits_connections
from ..config.listener import ConnectionLimit

#: Worker processes that can count at once (every generation's, draining ones included).
SLOTS = 4096
_CELL = 8
_ROW = SLOTS * _CELL
GLOBAL_CONNECTIONS = "global_downstream_max_connections"


def counter_keys(bootstrap) -> list[str]:
    """The counters a config's workers count in: the global limit, and one per filter chain that
    has a connection_limit filter (the same chain in the next generation shares it)."""
    keys = []
    overload = bootstrap.overload_manager
    if (overload is not None and overload.monitor(DOWNSTREAM_CONNECTIONS) is not None
            or runtime_limits_connections(bootstrap)):
        keys.append(GLOBAL_CONNECTIONS)
    for listener in bootstrap.listeners:
        if listener.connection_balance:
            keys.extend(balance_keys(listener))
        for index, chain in enumerate(listener.all_filter_chains()):
            if any(isinstance(f, ConnectionLimit) for f in chain.filters):
                keys.append(connection_limit_key(listener.name, index))
    return keys


def connection_limit_key(listener_name: str, chain_index: int) -> str:
    """A chain's counter, as Envoy counts a connection_limit filter per filter chain."""
    return f"connection_limit {listener_name} {chain_index}"


def balance_keys(listener) -> tuple[str, str]:
    """The counters of a listener's exact_balance (balance.py): each worker's connections on it
    (while it accepts), and each worker's accepts so far. Keyed by address too: only workers on
    one socket balance against each other."""
    where = f"{listener.name} {listener.address.address}:{listener.address.port}"
    return f"connection_balance {where} active", f"connection_balance {where} accepted"


def _offset(column: int) -> int:
    return _CELL + column * _ROW


class ConnectionCounts:
    """The arbiter's side: creates the table, hands out worker slots and counter columns, and
    reads totals."""

    def __init__(self):
        self.fd = os.memfd_create("hotproxy-connection-counts", os.MFD_CLOEXEC)
        self.columns = {}          # counter key → column
        self._free_columns = []
        self._slots = {}           # owner → slot
        self._free_slots = []
        self._mapped = None
        self._cells = None
        self._map(_offset(0))

    def _map(self, size):
        os.ftruncate(self.fd, size)
        if self._cells is not None:
            self._cells.release()
            self._mapped.close()
        self._mapped = mmap.mmap(self.fd, size)
        self._cells = memoryview(self._mapped).cast("q")

    # counters

    def column(self, key: str) -> int:
        column = self.columns.get(key)
        if column is None:
            if self._free_columns:
                column = self._free_columns.pop()
            else:
                column = len(self.columns)
                self._map(_offset(column + 1))
            self.columns[key] = column
        return column

    def retain(self, keys):
        """Free the columns of counters no live generation counts in any more. Every process
        that counted in one is gone, so its cells are zero already."""
        for key in [key for key in self.columns if key not in keys]:
            self._free_columns.append(self.columns.pop(key))

    def total(self, key: str) -> int:
        column = self.columns.get(key)
        if column is None:
            return 0
        start = 1 + column * SLOTS
        return sum(self._cells[start:start + self._cells[0]])

    # worker slots

    def claim_slot(self, owner) -> int:
        """A slot for the worker process ``owner`` is about to become, raised into the
        high-water mark before the worker can count in it."""
        if self._free_slots:
            slot = self._free_slots.pop()
        else:
            slot = self._cells[0]
            if slot >= SLOTS:
                raise OSError(f"more than {SLOTS} worker processes would count connections")
            self._cells[0] = slot + 1
        self._slots[owner] = slot
        return slot

    def release_slot(self, owner):
        """``owner`` exited: whatever it still counted (it may have died holding connections)
        stops counting, and its slot can serve another worker."""
        slot = self._slots.pop(owner, None)
        if slot is None:
            return
        cells = self._cells
        for column in range(len(self.columns) + len(self._free_columns)):
            cells[1 + column * SLOTS + slot] = 0
        self._free_slots.append(slot)

    def worker_share(self, owner, keys) -> tuple[list[str], dict]:
        """(the worker command-line arguments that give it the table and its slot, its counters'
        columns by key). The columns travel in the worker's first message, not its command line:
        a config of thousands of clusters has eight counters a cluster, which would outgrow
        the kernel's limit on arguments (and argparse reads repeated options in quadratic time)."""
        return (["--connection-counts", f"{self.fd}:{self._slots[owner]}"],
                {key: self.column(key) for key in keys})


class WorkerCounts:
    """A worker's side: the table mapped at start, its own slot, its counters by key."""

    def __init__(self, fd: int, slot: int, columns: dict):
        self.fd = fd
        self.slot = slot
        self.columns = columns
        size = os.fstat(fd).st_size
        self._mapped = mmap.mmap(fd, size)
        self._cells = memoryview(self._mapped).cast("q")

    @classmethod
    def from_args(cls, counts_arg: str, columns: dict) -> WorkerCounts:
        """From ``--connection-counts FD:SLOT`` and the columns by key (``worker_share``)."""
        fd, _, slot = counts_arg.partition(":")
        return cls(int(fd), int(slot), dict(columns))

    def row(self, key: str) -> memoryview:
        """Every worker's cell of one counter, by slot (for balance.py, which reads them all)."""
        start = 1 + self.columns[key] * SLOTS
        return self._cells[start:start + SLOTS]

    def slots_in_use(self) -> int:
        """The slot high-water mark: no cell at or past it has ever counted."""
        return self._cells[0]

    def counter(self, key: str, limit: int) -> SharedCounter:
        return SharedCounter(self, self.columns[key], limit)

    def runtime_limited_counter(self, key: str, read_limit) -> RuntimeLimitedCounter:
        return RuntimeLimitedCounter(self, self.columns[key], read_limit)

    def optimistic_counter(self, key: str, limit: int) -> OptimisticCounter:
        return OptimisticCounter(self, self.columns[key], limit)


class SharedCounter:
    """One counter as one worker uses it: at most ``limit`` places across every worker."""

    __slots__ = ("limit", "_fd", "_lock_at", "_cells", "_row", "_slot")

    def __init__(self, counts: WorkerCounts, column: int, limit: int):
        self.limit = limit
        self._fd = counts.fd
        self._lock_at = _offset(column)
        self._cells = counts._cells
        start = 1 + column * SLOTS
        self._row = counts._cells[start:start + SLOTS]
        self._slot = counts.slot

    def try_acquire(self) -> bool:
        """Take a place if one is free."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX, _CELL, self._lock_at)
        try:
            if sum(self._row[:self._cells[0]]) >= self.limit:
                return False
            self._row[self._slot] += 1
            return True
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, _CELL, self._lock_at)

    def add(self):
        """Take a place whether or not one is free (a connection that was admitted already)."""
        self._row[self._slot] += 1

    def release(self):
        self._row[self._slot] -= 1

    def total(self) -> int:
        return sum(self._row[:self._cells[0]])


class OptimisticCounter(SharedCounter):
    """A counter taken without a lock, for places taken on every request (the circuit breakers,
    process/breakers.py), where two system calls each time would cost more than the limit is
    worth being exact about.

    ``try_acquire`` adds to the own cell first and then reads the sum, giving the place back
    when the sum is over the limit. Two workers racing for the last place both see each other's
    addition and both refuse (a refusal that was not needed, never an excess), unless one's
    store is still in its core's store buffer when the other loads: x86 lets a load pass an
    earlier store. Then both may take it. The total can so exceed the limit by at most one per
    other worker taking a place within the same few nanoseconds, and only until those places
    are released.
    """

    __slots__ = ("_mapped", "_row_at")

    def __init__(self, counts: WorkerCounts, column: int, limit: int):
        super().__init__(counts, column, limit)
        self._mapped = counts._mapped
        self._row_at = (1 + column * SLOTS) * _CELL

    def try_acquire(self) -> bool:
        row = self._row
        slot = self._slot
        row[slot] += 1
        if sum(_cells_of(self._cells[0])(self._mapped, self._row_at)) > self.limit:
            row[slot] -= 1
            return False
        return True

    def total(self) -> int:
        return sum(_cells_of(self._cells[0])(self._mapped, self._row_at))


_UNPACKERS = {}


def _cells_of(count):
    """An unpack_from reading ``count`` cells: one C call instead of a memoryview slice summed
    item by item."""
    unpack = _UNPACKERS.get(count)
    if unpack is None:
        unpack = _UNPACKERS[count] = struct.Struct(f"{count}q").unpack_from
    return unpack


class RuntimeLimitedCounter(SharedCounter):
    """A counter whose limit the runtime sets, and may unset, at any time (``read_limit()``, None
    for none): every place is counted, so the count is right the moment a limit appears, but
    only with a limit is a place taken under the lock. Without one it costs a store."""

    __slots__ = ("_read_limit",)

    def __init__(self, counts: WorkerCounts, column: int, read_limit):
        super().__init__(counts, column, 0)
        self._read_limit = read_limit

    def try_acquire(self) -> bool:
        limit = self._read_limit()
        if limit is None:
            self._row[self._slot] += 1
            return True
        self.limit = limit
        return super().try_acquire()
