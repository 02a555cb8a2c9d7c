"""Connection timeouts without a timer per wait.

A gevent socket timeout arms and cancels a ``gevent.Timeout`` around every blocking call: two per
proxied request, a measurable share of the request's CPU. Instead, each connection keeps one
``deadline`` (a float on the monotonic clock, moved forward with plain assignments as it makes
progress) and one ``Deadlines`` greenlet per worker checks them every ``tick`` seconds, calling
``expire()`` on the ones that passed. Timeouts therefore fire up to one tick late. While nothing
is watched (a worker without connections) the greenlet does not tick: an idle worker sleeps.

Idle keep-alive connections are parked. Checking thousands of them 20 times a second would cost
a worker more CPU than Envoy spends idle, and their deadline (the idle timeout, an hour by
default) is far. Every ``sweep`` seconds, a watched item that is idle and not due before the
next sweep moves to the parked set, which only the sweep looks at; the sweep brings parked items
back to the ticking set in time for their deadline. This needs one promise from a parkable item,
since its deadline moves by plain assignment: it declares ``parked = False`` and calls
``unpark`` once it stops being idle (and whoever moves an idle item's deadline sooner from
outside calls it too). Only then may its deadline move sooner.
"""
from __future__ import annotations

import time

import gevent
from gevent.event import Event

NEVER = float("inf")


class Deadlines:
    def __init__(self, tick=0.05, sweep=5.0):
        self.tick = tick
        self.sweep = sweep
        self._watched = set()       # checked every tick
        self._parked = set()        # idle, not due before the next sweep
        self._next_sweep = 0.0
        self._greenlet = None
        self._watching = Event()    # set while something is watched

    def watch(self, item):
        """``item`` has a ``deadline`` attribute and an ``expire()`` method, which must move the
        deadline (to ``NEVER`` or later) or unwatch the item."""
        watched = self._watched
        if not watched:
            self._watching.set()
        watched.add(item)

    def unwatch(self, item):
        self._watched.discard(item)
        if item in self._parked:
            self._parked.discard(item)
            item.parked = False

    def unpark(self, item):
        """``item`` is no longer idle, or its deadline moved sooner: checked every tick again
        (any watched item may be passed; only a parked one changes)."""
        if getattr(item, "parked", False):
            item.parked = False
            self._parked.discard(item)
            self.watch(item)

    def start(self):
        self._greenlet = gevent.spawn(self._run)

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def _run(self):
        watching = self._watching
        while True:
            if not self._watched:
                watching.clear()
                # only the sweep has something to do: wake for it, or for a watch
                watching.wait(max(self._next_sweep - time.monotonic(), 0.0) if self._parked else None)
            gevent.sleep(self.tick)
            now = time.monotonic()
            self.check(now)
            if now >= self._next_sweep:
                self.park_and_unpark(now)

    def check(self, now):
        """Expire every watched item whose deadline is at or before ``now``."""
        for item in [item for item in self._watched if item.deadline <= now]:
            item.expire()

    def park_and_unpark(self, now):
        """The sweep: parked items due before the next sweep (and a tick) go back to the ticking
        set; idle parkable items due after it are parked."""
        self._next_sweep = now + self.sweep
        horizon = self._next_sweep + self.tick
        parked, watched = self._parked, self._watched
        for item in [item for item in parked if item.deadline <= horizon]:
            parked.discard(item)
            item.parked = False
            watched.add(item)
        for item in [item for item in watched
                     if getattr(item, "parked", None) is False and item.idle and item.deadline > horizon]:
            watched.discard(item)
            item.parked = True
            parked.add(item)


def sooner_of(deadline, now, idle):
    """The sooner of ``deadline`` and an idle timeout of ``idle`` seconds (0: none) from ``now``."""
    if idle:
        idle_deadline = now + idle
        if idle_deadline < deadline:
            return idle_deadline
    return deadline
