"""A cluster's circuit breakers (Envoy's ``circuit_breakers.thresholds``): how many connections,
pending requests, requests and retries may be open at once to the cluster as a whole.

Each resource is a counter with ``limit``, ``try_acquire() -> bool``, ``add()`` (take a place
regardless), ``release()`` and ``total()``. A worker gives its clusters counters in the table
shared by every worker (process/breakers.py), so that a limit of 10 is 10 in the process tree;
without one (unit tests, tools) they are this process's alone.
"""
from __future__ import annotations


class LocalCounter:
    """A limit counted in this process only."""

    __slots__ = ("limit", "value")

    def __init__(self, limit):
        self.limit = limit
        self.value = 0

    def try_acquire(self) -> bool:
        if self.value >= self.limit:
            return False
        self.value += 1
        return True

    def add(self):
        self.value += 1

    def release(self):
        self.value -= 1

    def total(self) -> int:
        return self.value


class CircuitBreakers:
    """One priority's counters of one cluster (DEFAULT's, or HIGH's: high_priority.py).

    ``retries``: outstanding retries; with a ``retry_budget`` its limit follows the active and
    pending requests: max(min_retry_concurrency, budget_percent% of them), as Envoy computes it.
    """

    __slots__ = ("connections", "pending", "requests", "retries", "budget_percent",
                 "min_retry_concurrency")

    def __init__(self, config, counter_for=None, priority="default"):
        """``config``: the thresholds (the Cluster config for DEFAULT, its ``high_thresholds``
        for HIGH); ``counter_for(resource, limit)`` makes a counter (LocalCounter by default),
        ``resource`` prefixed with "high " for the HIGH priority."""
        make = counter_for or (lambda resource, limit: LocalCounter(limit))
        prefix = "" if priority == "default" else priority + " "
        self.connections = make(prefix + "cx", config.max_connections)
        self.pending = make(prefix + "rq_pending", config.max_pending_requests)
        # None: max_requests is not counted (no threshold for the priority in the config)
        self.requests = make(prefix + "rq", config.max_requests) if config.breakers_configured else None
        budget = config.retry_budget
        self.budget_percent = budget.budget_percent if budget is not None else None
        self.min_retry_concurrency = budget.min_retry_concurrency if budget is not None else 0
        self.retries = make(prefix + "rq_retry", config.max_retries)

    def retry_limit(self) -> int:
        if self.budget_percent is None or self.requests is None:
            return self.retries.limit
        outstanding = self.requests.total() + self.pending.total()
        return max(self.min_retry_concurrency, int(outstanding * self.budget_percent / 100))

    def try_start_retry(self) -> bool:
        retries = self.retries
        if self.budget_percent is not None:
            retries.limit = self.retry_limit()
        return retries.try_acquire()
