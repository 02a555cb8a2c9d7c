"""An upstream request's hold on a connection: taking one from a host's pool and giving it back,
with the counts Envoy keeps for it (the cluster's upstream_rq_active, the host's active requests
and errors) and the connect failure outlier detection hears about."""
from __future__ import annotations

from .connect import ConnectFailure


def take_connection(cluster, host, pool, fresh=False):
    """A connection of ``pool`` for a request to ``host``. On ConnectFailure the counts are as
    they were, but for the host's error."""
    stats = cluster.stats
    stats.upstream_rq_active += 1
    host.active_requests += 1
    try:
        return pool.acquire_fresh() if fresh else pool.acquire()
    except ConnectFailure as failure:
        host.active_requests -= 1
        host.stats.rq_error += 1
        stats.upstream_rq_active -= 1
        if failure.reason != "overflow" and cluster.outlier_detection is not None:
            cluster.record_outcome(host, "connect_failure")    # an overflow says nothing of it
        raise


def give_back(cluster, upstream, reusable):
    """The request is over: ``upstream`` goes back to its pool (closed unless ``reusable``)."""
    pool = upstream.pool
    pool.host.active_requests -= 1
    cluster.stats.upstream_rq_active -= 1
    pool.release(upstream, reusable)
