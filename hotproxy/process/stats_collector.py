"""Stats aggregation in the arbiter: every worker's ``stats`` messages merged into the one
StatsStore (stats/store.py) that outlives every generation, so that counters stay continuous
across reloads, crashes and (through the hot-restart export) epochs.

Every ``stats_flush_interval`` (``flush_loop``) the histograms' interval moves on and the
config's stats sinks (process/stats_sinks.py) get what changed. The store follows the serving
config's ``stats_config`` (which stats exist, histogram buckets) from then on.

Workers ship on their own every ``stats_flush_interval``; a reader that needs exact totals now
(an admin read, the next epoch asking for our counts) calls ``collect``, which asks each ready
worker to ship at once (``stats_flush`` with an id its reply repeats) and waits, at most
STATS_FLUSH_TIMEOUT_S, for every one of them, then refreshes the arbiter's own gauges.
"""
from __future__ import annotations

import logging

import gevent
from gevent.event import Event

from ..stats.selection import StatsSelection
from .certificate_gauges import certificate_expirations
from .messages import STATS_FLUSH
from .stats_sinks import StatsSinks

STATS_FLUSH_TIMEOUT_S = 1.0
log = logging.getLogger("hotproxy.stats")


class StatsCollector:
    def __init__(self, store, workers, refresh, bootstrap):
        """``workers()``: the live, ready workers to ask; ``refresh()``: sets the arbiter's own
        gauges, after every collection; ``bootstrap()``: the serving config (None before the
        first)."""
        self.store = store
        self._workers = workers
        self._refresh = refresh
        self._bootstrap = bootstrap
        self._followed = None        # the Bootstrap the store follows
        self.sinks = StatsSinks(store)
        self._waits = {}             # stats_flush id → (children not yet answered, Event)
        self._ids = 0

    def on_stats(self, child, message):
        """A worker's ``stats`` message (its last words too, read after its exit was seen)."""
        request_id = message.get("id")
        if child.process is None:
            # its last words, read after its exit was seen: counts only, no levels of the dead
            message = {"c": message.get("c", {}), "h": message.get("h", {})}
        self._follow_config()
        self.store.merge(child.stats_source, message)
        wait = self._waits.get(request_id) if request_id is not None else None
        if wait is not None:
            waiting, done = wait
            waiting.discard(child)
            if not waiting:
                done.set()

    def collect(self):
        """Ask every live worker for its counts now and wait (at most a second) for them all,
        then refresh the arbiter's own gauges: an admin read sees exact totals."""
        children = self._workers()
        if children:
            self._ids += 1
            request_id = self._ids
            done = Event()
            self._waits[request_id] = (children, done)
            for child in list(children):
                if not child.send({"t": STATS_FLUSH, "id": request_id}):
                    children.discard(child)
            if children:
                done.wait(STATS_FLUSH_TIMEOUT_S)
            del self._waits[request_id]
        self._refresh()

    def flush_loop(self, interval, running):
        """Every ``interval()`` seconds while ``running()``: the interval quantiles of /stats
        move on and the stats sinks are flushed."""
        try:
            while running():
                gevent.sleep(interval())
                try:
                    self._flush()
                except Exception:       # one bad flush must not end the next ones
                    log.exception("stats flush failed")
        finally:
            self.sinks.stop()

    def _flush(self):
        for totals in self.store.histograms.values():
            totals.rotate()
        self._follow_config()
        bootstrap = self._bootstrap()
        if bootstrap is not None and bootstrap.stats_sinks:
            self._refresh()     # the arbiter's own gauges (server.*) go out too
        self.sinks.flush(bootstrap)

    # the arbiter starts the loop under its first name
    def _follow_config(self):
        bootstrap = self._bootstrap()
        if bootstrap is self._followed:
            return
        self._followed = bootstrap
        self.store.select(StatsSelection(bootstrap.stats_config if bootstrap is not None else None))
        if bootstrap is not None:
            try:
                expirations = certificate_expirations(bootstrap)
            except ValueError as error:   # a certificate the TLS code accepted but cannot date
                log.warning("certificate expiry gauges: %s", error)
                expirations = {}
            self.store.set_gauges("certificates", expirations, local=True, set_=True)
