"""The arbiter's active health checking: one ClusterChecker (upstream/health/checker.py) per
health-checked cluster, whatever the number of workers, and the health it finds pushed to them.

Each generation holds the checkers of its config (``generation.health``, cluster name → checker).
A reload or a hot restart ``prepare``s the checkers of the new config first: a cluster whose
health check, discovery and endpoints are unchanged keeps its running checker (reload) or
resumes the previous epoch's host states (hot restart), so its healthy hosts stay in; others get
a new checker, whose first round of checks is awaited (bounded) before the new workers start.
Checkers no generation uses any more are stopped (``retain``).

Messages to workers: ``health_all`` right after a worker is spawned (every cluster of its
generation; the worker waits for it before it serves), and ``health`` when one cluster changes.
Both carry the (ip, port) of the healthy hosts; any other host of a health-checked cluster is
unhealthy. From workers: the ``outcomes`` message (shared with outlier detection) may carry
IMMEDIATE_HC_FAIL for a host whose response said x-envoy-immediate-health-check-fail
(upstream/health/passive.py); that host's checker fails it at once (``record``).
"""
from __future__ import annotations

import logging
import time

from ..upstream.health.checker import ClusterChecker, checker_key
from ..upstream.outlier.outcomes import IMMEDIATE_HC_FAIL
from .messages import HEALTH, HEALTH_ALL

log = logging.getLogger("hotproxy.arbiter")

FIRST_ROUND_MARGIN_S = 1.0


class HealthSupervisor:
    def __init__(self, stats, generations):
        """``generations()`` lists the arbiter's generations, oldest first."""
        self._stats = stats
        self._generations = generations
        self._checkers = {}          # key → ClusterChecker
        self.inherited = {}          # key → {label: (healthy, excluded)} from the previous epoch

    def prepare(self, bootstrap, resolvers=None):
        """The checkers for ``bootstrap``'s clusters by name, started (or kept), their first round
        awaited. Stop the ones that end up unused with ``retain``. ``resolvers``: the DNS
        clusters' ClusterResolvers by name (process/dns.py)."""
        resolvers = resolvers or {}
        chosen, fresh = {}, []
        for cluster in bootstrap.clusters:
            if not cluster.health_checks:
                continue
            key = checker_key(cluster)
            checker = self._checkers.get(key)
            if checker is None:
                checker = self._checkers[key] = ClusterChecker(
                    cluster, self._stats, self._changed, self._traffic_probe(cluster.stat_name))
                checker.start(resumed=self.inherited.pop(key, None), resolver=resolvers.get(cluster.name))
                fresh.append(checker)
            elif cluster.name in resolvers:
                checker.use_resolver(resolvers[cluster.name])
            chosen[cluster.name] = checker
        if fresh:
            bound = max(c.health_check.initial_jitter + c.health_check.timeout for c in fresh)
            deadline = time.monotonic() + bound + FIRST_ROUND_MARGIN_S
            for checker in fresh:
                checker.first_round.wait(max(deadline - time.monotonic(), 0))
        self._publish_gauges()
        return chosen

    def retain(self):
        """Stop the checkers no live generation uses."""
        used = {id(checker) for generation in self._generations()
                for checker in getattr(generation, "health", {}).values()}
        for key, checker in list(self._checkers.items()):
            if id(checker) not in used:
                checker.stop()
                del self._checkers[key]
        self.inherited.clear()
        self._publish_gauges()

    def stop(self):
        for checker in self._checkers.values():
            checker.stop()
        self._checkers.clear()

    # workers

    @staticmethod
    def record(generation, message):
        """A worker's ``outcomes`` message: any x-envoy-immediate-health-check-fail in it."""
        checker = getattr(generation, "health", {}).get(message.get("cluster"))
        if checker is None:
            return
        for label, codes in (message.get("hosts") or {}).items():
            if IMMEDIATE_HC_FAIL in codes:
                checker.passive_failure(label)

    @staticmethod
    def snapshot(health):
        """The ``health_all`` message for a worker of a generation with checkers ``health``."""
        return {"t": HEALTH_ALL,
                "clusters": {name: _health_of(checker) for name, checker in health.items()}}

    def _changed(self, checker):
        message = {"t": HEALTH, "cluster": checker.name, **_health_of(checker)}
        for generation in self._generations():
            if generation.health.get(checker.name) is checker:
                generation.send_all(message)
        self._publish_gauges()

    def _traffic_probe(self, name):
        counter = f"cluster.{name}.upstream_cx_total"
        counters = self._stats.counters
        return lambda: counters.get(counter, 0) > 0

    def _publish_gauges(self):
        levels = {}
        for checker in self._checkers.values():
            name = f"cluster.{checker.stat_name}.health_check.healthy"
            # of two checkers of one name (during a reload) the newest speaks
            levels[name] = checker.healthy_count()
        self._stats.set_gauges("health", levels, local=True)

    # admin and hot restart

    @staticmethod
    def flags(health):
        """``{cluster: {label: (health_flags, failed, excluded)}}`` for checkers ``health``."""
        return {name: checker.flags() for name, checker in health.items()}

    def export(self):
        """For the next epoch: ``{key: {label: [healthy, excluded]}}`` of every checker."""
        return {key: {label: list(state) for label, state in checker.states().items()}
                for key, checker in self._checkers.items()}

    def inherit(self, exported):
        self.inherited = {key: {label: tuple(state) for label, state in hosts.items()}
                          for key, hosts in (exported or {}).items()}


def _health_of(checker):
    return {"healthy": [list(address) for address in checker.healthy()],
            "excluded": [list(address) for address in checker.excluded()]}
