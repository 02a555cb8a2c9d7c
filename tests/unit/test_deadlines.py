"""The worker's deadline checker: a passed deadline expires within a tick or so, and nothing wakes
the worker while no deadline is watched (an idle worker sleeps instead of ticking 20 times a
second)."""
import time

import gevent

from hotproxy.deadlines import NEVER, Deadlines


class Item:
    def __init__(self, deadline):
        self.deadline = deadline
        self.expired_at = None

    def expire(self):
        self.expired_at = time.monotonic()
        self.deadline = NEVER


def counting_checks(deadlines):
    checks = []
    real = deadlines.check

    def check(now):
        checks.append(now)
        real(now)
    deadlines.check = check
    return checks


def test_a_passed_deadline_expires_and_not_before_it_passed():
    deadlines = Deadlines(tick=0.01)
    deadlines.start()
    try:
        due = time.monotonic() + 0.03
        item = Item(due)
        deadlines.watch(item)
        gevent.sleep(0.2)
        assert item.expired_at is not None and item.expired_at >= due
    finally:
        deadlines.stop()


def test_nothing_watched_nothing_checked_until_something_is():
    deadlines = Deadlines(tick=0.01)
    checks = counting_checks(deadlines)
    deadlines.start()
    try:
        gevent.sleep(0.15)
        assert len(checks) <= 1      # at most the tick already under way at the start
        item = Item(time.monotonic() + 0.02)
        deadlines.watch(item)       # wakes the checker
        gevent.sleep(0.15)
        assert item.expired_at is not None
        ticking = len(checks)
        assert ticking >= 3
        deadlines.unwatch(item)
        gevent.sleep(0.15)
        assert len(checks) <= ticking + 1   # stopped ticking once the last item went
    finally:
        deadlines.stop()


def test_a_deadline_watched_after_an_idle_spell_still_expires_on_time():
    deadlines = Deadlines(tick=0.01)
    deadlines.start()
    try:
        gevent.sleep(0.05)
        first = Item(NEVER)
        deadlines.watch(first)
        deadlines.unwatch(first)
        gevent.sleep(0.05)
        late = Item(time.monotonic() + 0.02)
        deadlines.watch(late)
        gevent.sleep(0.1)
        assert late.expired_at is not None
    finally:
        deadlines.stop()


# --- idle items parked between sweeps

class Connection:
    """A parkable item that counts how often its deadline is read."""
    parked = False

    def __init__(self, deadline, idle=True):
        self._deadline = deadline
        self.idle = idle
        self.reads = 0
        self.expired_at = None

    @property
    def deadline(self):
        self.reads += 1
        return self._deadline

    @deadline.setter
    def deadline(self, value):
        self._deadline = value

    def expire(self):
        self.expired_at = time.monotonic()
        self._deadline = NEVER


def running(tick=0.01, sweep=0.1):
    deadlines = Deadlines(tick=tick, sweep=sweep)
    deadlines.start()
    return deadlines


def test_an_idle_connection_far_from_its_deadline_is_left_alone_between_sweeps_and_still_expires_on_time():
    deadlines = running(sweep=0.3)
    try:
        due = time.monotonic() + 0.75   # between sweeps: one that came back a sweep late shows
        item = Connection(due)
        deadlines.watch(item)
        gevent.sleep(0.15)
        assert item.parked
        reads = item.reads
        gevent.sleep(0.25)           # 25 ticks: read by the two sweeps only, not by every tick
        assert item.reads - reads <= 3
        for _ in range(100):
            if item.expired_at is not None:
                break
            gevent.sleep(0.02)
        # brought back to the ticking set by the sweep before its deadline, not one sweep late
        assert item.expired_at is not None and due <= item.expired_at <= due + 0.08
    finally:
        deadlines.stop()


def test_a_parked_connection_that_wakes_and_moves_its_deadline_sooner_expires_within_a_tick():
    deadlines = running(sweep=10.0)
    try:
        item = Connection(NEVER)
        deadlines.watch(item)
        gevent.sleep(0.05)
        assert item.parked           # the first sweep came with the first tick
        item.idle = False            # a request came: the connection unparks itself...
        deadlines.unpark(item)
        due = time.monotonic() + 0.03
        item.deadline = due          # ...and only then moves its deadline sooner
        gevent.sleep(0.1)
        assert not item.parked and item.expired_at is not None and item.expired_at <= due + 0.03
    finally:
        deadlines.stop()


def test_a_busy_or_unparkable_item_is_never_parked():
    deadlines = running()
    try:
        busy = Connection(NEVER, idle=False)
        other = Item(NEVER)          # no ``parked``: it never promised to unpark itself
        other.idle = True
        deadlines.watch(busy)
        deadlines.watch(other)
        gevent.sleep(0.25)
        assert not busy.parked and busy.reads >= 15     # read by every tick
        assert not hasattr(other, "parked")
    finally:
        deadlines.stop()


def test_with_only_parked_connections_the_checker_wakes_for_the_sweeps_only():
    deadlines = running(sweep=0.1)
    checks = counting_checks(deadlines)
    try:
        deadlines.watch(Connection(NEVER))
        gevent.sleep(0.05)
        start = len(checks)
        gevent.sleep(0.5)
        assert len(checks) - start <= 7  # about one a sweep, against 50 ticks
    finally:
        deadlines.stop()


def test_an_unwatched_parked_connection_is_forgotten():
    deadlines = running(sweep=0.05)
    try:
        item = Connection(time.monotonic() + 0.3)
        deadlines.watch(item)
        gevent.sleep(0.08)
        assert item.parked
        deadlines.unwatch(item)
        gevent.sleep(0.4)
        assert item.expired_at is None and not item.parked
    finally:
        deadlines.stop()
