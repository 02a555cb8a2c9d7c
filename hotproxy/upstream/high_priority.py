"""What a route with ``priority: HIGH`` (RouteAction.priority) uses of its cluster: the HIGH
circuit breakers (``circuit_breakers.thresholds[]`` with priority HIGH, Envoy's defaults without
one), counted across every worker like the DEFAULT ones, and a connection pool per host of its
own, as Envoy keeps one pool per priority per host: a HIGH request never takes a DEFAULT
connection, and DEFAULT traffic at its limits (connections, pending, requests, retries) does not
refuse it. Overflows count in the same cluster stats as DEFAULT's (``upstream_cx_overflow``,
``upstream_rq_pending_overflow``, ``upstream_rq_retry_overflow``, ...), as in Envoy; the
``circuit_breakers.high.*`` gauges are the arbiter's (process/breakers.py).

The router, for a HIGH route:

``cluster.high.pool(host)``
    ``host``'s HIGH pool (in place of ``host.pool``), made on first use.
``cluster.pool_for_request(host, request_host, headers, downstream, high=True)``
    the same for a cluster with ``options_per_request``.
``cluster.high`` as the retry breaker (``try_start_retry()`` / ``end_retry()``)
    the HIGH max_retries breaker (or retry budget), in place of ``cluster``.
"""
from __future__ import annotations


class HighPriority:
    __slots__ = ("cluster", "breakers")

    def __init__(self, cluster, breakers):
        self.cluster = cluster
        self.breakers = breakers    # circuit_breaker.py's CircuitBreakers of priority HIGH

    def pool(self, host):
        """``host``'s pool for HIGH requests."""
        pool = host.high_pool
        if pool is None:
            pool = host.high_pool = self.cluster._new_pool(host, None, self.breakers)
        return pool

    def try_start_retry(self):
        """Take a HIGH max_retries place; counts upstream_rq_retry_overflow when there is none."""
        if self.breakers.try_start_retry():
            return True
        self.cluster.stats.upstream_rq_retry_overflow += 1
        return False

    def end_retry(self):
        self.breakers.retries.release()
