"""exact_balance across worker processes: the least-loaded worker accepts.

Envoy's ExactConnectionBalancerImpl runs in one process: the worker thread that accepted a
connection hands it, under a lock, to the worker with the fewest of the listener's connections.
hotproxy's workers are processes sharing the listening socket, so the choice is made before the
accept instead of after it: each worker publishes its count of the listener's connections in the
table the workers share (connection_counts.py, two counters per balanced listener, see
``balance_keys``), and a worker takes its turn at ``accept`` only while no other accepting worker
has fewer. Every worker is woken when a connection waits (they all watch the one socket), so the
least-loaded one sees it.

A worker above the minimum stands aside (manager.py stops its accept watcher and looks again
every ``RECHECK_S``). So that a least-loaded worker that is stuck (a long CPU-bound stretch, a
full accept pool) cannot hold connections in the kernel's queue, a worker that stood aside for
``OVERDUE_CHECKS`` looks in a row while no worker of the listener accepted anything takes one
connection anyway.

Cells: ``active[slot]`` is 1 + the worker's connections on the listener while it accepts, 0
when it does not (paused by the overload manager, draining, not started yet, or dead: the arbiter
zeroes a dead worker's cells); ``accepted[slot]`` counts its accepts, for the progress check.
"""
from __future__ import annotations

from .connection_counts import balance_keys

#: How often a worker standing aside looks at the counts again (seconds).
RECHECK_S = 0.005
#: Looks without progress after which a standing-aside worker accepts anyway (20 ms).
OVERDUE_CHECKS = 4


class ExactBalance:
    """One worker's share in one listener's balance."""

    def __init__(self, active_row, accepted_row, slot: int, slots_in_use):
        """``active_row``/``accepted_row``: every worker's cells, by slot; ``slots_in_use()``:
        how many slots can hold a count (the table's high-water mark)."""
        self._active_row = active_row
        self._accepted_row = accepted_row
        self._slot = slot
        self._slots_in_use = slots_in_use
        self.connections = 0        # this worker's connections on the listener
        self.joined = False
        self._seen_progress = None  # the accepts of all workers when this one last stood aside
        self._idle_checks = 0
        self.overdue = False
        self.overdue_accepts = 0    # connections taken out of turn (a stuck least-loaded worker)

    @classmethod
    def from_counts(cls, counts, listener_config) -> ExactBalance | None:
        """None when the arbiter gave the worker no column for the listener's counters."""
        keys = balance_keys(listener_config)
        if counts is None or not all(key in counts.columns for key in keys):
            return None
        active, accepted = keys
        return cls(counts.row(active), counts.row(accepted), counts.slot, counts.slots_in_use)

    # what this worker publishes

    def join(self):
        """This worker accepts on the listener now: the others see its count."""
        self.joined = True
        self._publish()

    def leave(self):
        """This worker no longer accepts: the others must not wait for it."""
        self.joined = False
        self._active_row[self._slot] = 0

    def opened(self, accepted: bool):
        """A connection of the listener starts here: ``accepted`` now, or adopted from an older
        generation (which counts as load, not as an accept)."""
        self.connections += 1
        self._publish()
        if accepted:
            self._accepted_row[self._slot] += 1
            self.overdue_accepts += self.overdue
            self._seen_progress = None
            self._idle_checks = 0
            self.overdue = False

    def closed(self):
        self.connections -= 1
        self._publish()

    def _publish(self):
        if self.joined:
            self._active_row[self._slot] = 1 + self.connections

    # the turn

    def my_turn(self) -> bool:
        """Whether this worker may accept the next connection: no accepting worker has fewer of
        the listener's connections, or the ones that have did not accept for too long."""
        if self.overdue or not self.joined:
            return True
        own = self._active_row[self._slot]
        in_use = self._slots_in_use()
        return all(count >= own for count in self._active_row[:in_use] if count)

    def progress(self) -> int:
        """How many connections every worker of the listener accepted so far."""
        return sum(self._accepted_row[:self._slots_in_use()])

    def stood_aside(self):
        """This worker let a waiting connection go to a less loaded one."""
        if self._seen_progress is None:
            self._seen_progress = self.progress()
            self._idle_checks = 0

    def recheck(self):
        """``RECHECK_S`` after standing aside: count a look without progress; after
        ``OVERDUE_CHECKS`` of them in a row, this worker's next turn comes regardless."""
        if self._seen_progress is None:
            return
        progress = self.progress()
        if progress != self._seen_progress:
            self._seen_progress = progress
            self._idle_checks = 0
            return
        self._idle_checks += 1
        if self._idle_checks >= OVERDUE_CHECKS:
            self.overdue = True
