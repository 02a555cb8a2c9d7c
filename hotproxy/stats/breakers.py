"""Circuit-breaker counters a worker keeps beside stats/schema.py's ClusterStats, under the same
``cluster.<name>.`` prefix, as Envoy 1.40 names them: ``upstream_cx_overflow`` (a connection the
max_connections breaker refused), ``upstream_rq_active_overflow`` (a request max_requests
refused), ``upstream_cx_pool_overflow`` (max_connection_pools, which hotproxy does not read: 0).
The ``circuit_breakers.*`` gauges are the arbiter's (process/breakers.py)."""
from .schema import stat_set

ClusterBreakerStats = stat_set("ClusterBreakerStats", (
    "upstream_cx_overflow", "upstream_rq_active_overflow", "upstream_cx_pool_overflow"))
