"""Circuit breakers held across workers: each cluster's open connections, pending requests,
active requests and outstanding retries count in the table the workers share with the arbiter
(listener/connection_counts.py), one counter per cluster and resource, so that a limit of 10 is
10 in the process tree (Envoy applies them to the cluster as a whole).

Workers take places with ``OptimisticCounter.try_acquire`` (no lock, no system call); the arbiter
reads the totals for the ``circuit_breakers.<priority>.*`` gauges on every stats read.

A cluster of the same name in the next generation counts in the same counters: while a reload
drains, the old generation's requests still count against the new limits.
"""
from __future__ import annotations

#: resource → (the config field of its limit, its "open" gauge, its remaining_* gauge)
RESOURCES = {"cx": ("max_connections", "cx_open", "remaining_cx"),
             "rq_pending": ("max_pending_requests", "rq_pending_open", "remaining_pending"),
             "rq": ("max_requests", "rq_open", "remaining_rq"),
             "rq_retry": ("max_retries", "rq_retry_open", "remaining_retries")}
#: Envoy's default thresholds, which the HIGH priority keeps (routes cannot ask for it yet)
DEFAULT_LIMITS = {"max_connections": 1024, "max_pending_requests": 1024, "max_requests": 1024,
                  "max_retries": 3}
UNLIMITED = 2**64 - 1      # remaining_cx_pools: max_connection_pools unset


def breaker_key(cluster_name: str, resource: str) -> str:
    return f"circuit_breaker {cluster_name} {resource}"


def breaker_keys(bootstrap) -> list[str]:
    return [breaker_key(cluster.name, resource) for cluster in bootstrap.clusters for resource in RESOURCES]


def counter_factory(counts, cluster_name):
    """``counter_for(resource, limit)`` for a worker's CircuitBreakers (upstream/circuit_breaker.py)."""
    return lambda resource, limit: counts.optimistic_counter(breaker_key(cluster_name, resource), limit)


def gauges(bootstrap, total) -> dict:
    """The ``cluster.<name>.circuit_breakers.*`` gauges of ``bootstrap``'s clusters; ``total(key)``
    reads a shared counter."""
    levels = {}
    for cluster in bootstrap.clusters:
        prefix = f"cluster.{cluster.name}.circuit_breakers."
        totals = {resource: total(breaker_key(cluster.name, resource)) for resource in RESOURCES}
        for resource, (field, open_name, remaining_name) in RESOURCES.items():
            limit = _limit(cluster, field, totals)
            levels[prefix + "default." + open_name] = 1 if totals[resource] >= limit else 0
            levels[prefix + "high." + open_name] = 0
            if cluster.track_remaining:
                levels[prefix + "default." + remaining_name] = max(limit - totals[resource], 0)
        levels[prefix + "default.cx_pool_open"] = levels[prefix + "high.cx_pool_open"] = 0
        if cluster.track_remaining:
            levels[prefix + "default.remaining_cx_pools"] = UNLIMITED
    return levels


def _limit(cluster, field, totals):
    budget = cluster.retry_budget
    if field == "max_retries" and budget is not None:
        outstanding = totals["rq"] + totals["rq_pending"]
        return max(budget.min_retry_concurrency, int(outstanding * budget.budget_percent / 100))
    return getattr(cluster, field)
