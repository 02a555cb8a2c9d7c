"""Circuit breakers held across workers: each cluster's open connections, pending requests,
active requests and outstanding retries count in the table the workers share with the arbiter
(listener/connection_counts.py), one counter per cluster, priority (DEFAULT, HIGH) and resource,
so that a limit of 10 is 10 in the process tree (Envoy applies them to the cluster as a whole).

Workers take places with ``OptimisticCounter.try_acquire`` (no lock, no system call); the arbiter
reads the totals for the ``circuit_breakers.<priority>.*`` gauges on every stats read.

A cluster of the same name in the next generation counts in the same counters: while a reload
drains, the old generation's requests still count against the new limits.
"""
from __future__ import annotations

from ..upstream.circuit_breaker import LocalCounter

#: resource → (the config field of its limit, its "open" gauge, its remaining_* gauge)
RESOURCES = {"cx": ("max_connections", "cx_open", "remaining_cx"),
             "rq_pending": ("max_pending_requests", "rq_pending_open", "remaining_pending"),
             "rq": ("max_requests", "rq_open", "remaining_rq"),
             "rq_retry": ("max_retries", "rq_retry_open", "remaining_retries")}
#: Envoy's default thresholds (a priority without a threshold of its own keeps them)
DEFAULT_LIMITS = {"max_connections": 1024, "max_pending_requests": 1024, "max_requests": 1024,
                  "max_retries": 3}
#: priority → the prefix of its counters' resources (upstream/circuit_breaker.py)
PRIORITIES = {"default": "", "high": "high "}
UNLIMITED = 2**64 - 1      # remaining_cx_pools: max_connection_pools unset


def breaker_key(cluster_name: str, resource: str) -> str:
    return f"circuit_breaker {cluster_name} {resource}"


def breaker_keys(bootstrap) -> list[str]:
    return [breaker_key(cluster.name, prefix + resource) for cluster in bootstrap.clusters
            for prefix in PRIORITIES.values() for resource in RESOURCES]


def counter_factory(counts, cluster_name):
    """``counter_for(resource, limit)`` for a worker's CircuitBreakers (upstream/circuit_breaker.py).
    A counter the arbiter gave no column (an arbiter older than the worker's code, after a
    reload) counts in this worker only."""
    def counter_for(resource, limit):
        key = breaker_key(cluster_name, resource)
        if key not in counts.columns:
            return LocalCounter(limit)
        return counts.optimistic_counter(key, limit)
    return counter_for


def thresholds(cluster, priority):
    """The cluster config's thresholds of ``priority`` ("default" or "high")."""
    return cluster if priority == "default" else cluster.high_thresholds


def gauges(bootstrap, total) -> dict:
    """The ``cluster.<name>.circuit_breakers.*`` gauges of ``bootstrap``'s clusters, of both
    priorities, as Envoy 1.40 names them; ``total(key)`` reads a shared counter."""
    levels = {}
    for cluster in bootstrap.clusters:
        for priority, prefix in PRIORITIES.items():
            limits = thresholds(cluster, priority)
            at = f"cluster.{cluster.stat_name}.circuit_breakers.{priority}."
            totals = {resource: total(breaker_key(cluster.name, prefix + resource))
                      for resource in RESOURCES}
            for resource, (field, open_name, remaining_name) in RESOURCES.items():
                limit = _limit(limits, field, totals)
                levels[at + open_name] = 1 if totals[resource] >= limit else 0
                if limits.track_remaining:
                    levels[at + remaining_name] = max(limit - totals[resource], 0)
            levels[at + "cx_pool_open"] = 0
            if limits.track_remaining:
                levels[at + "remaining_cx_pools"] = UNLIMITED
    return levels


def _limit(limits, field, totals):
    budget = limits.retry_budget
    if field == "max_retries" and budget is not None:
        outstanding = totals["rq"] + totals["rq_pending"]
        return max(budget.min_retry_concurrency, int(outstanding * budget.budget_percent / 100))
    return getattr(limits, field)
