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
