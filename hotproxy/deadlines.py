"""Connection timeouts without a timer per wait.

A gevent socket timeout arms and cancels a ``gevent.Timeout`` around every blocking call: two per
proxied request, a measurable share of the request's CPU. Instead, each connection keeps one
``deadline`` (a float on the monotonic clock, moved forward with plain assignments as it makes
progress) and one ``Deadlines`` greenlet per worker checks them every ``tick`` seconds, calling
``expire()`` on the ones that passed. Timeouts therefore fire up to one tick late. While nothing
is watched (a worker without connections) the greenlet does not tick: an idle worker sleeps.
"""
from __future__ import annotations

import time

import gevent
from gevent.event import Event

NEVER = float("inf")


class Deadlines:
    def __init__(self, tick=0.05):
        self.tick = tick
        self._watched = set()
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
                watching.wait()
            gevent.sleep(self.tick)
            self.check(time.monotonic())

    def check(self, now):
        """Expire every watched item whose deadline is at or before ``now``."""
        for item in [item for item in self._watched if item.deadline <= now]:
            item.expire()


def sooner_of(deadline, now, idle):
    """The sooner of ``deadline`` and an idle timeout of ``idle`` seconds (0: none) from ``now``."""
    if idle:
        idle_deadline = now + idle
        if idle_deadline < deadline:
            return idle_deadline
    return deadline
