"""What a reply the router makes for a cluster itself (no healthy host, connect failure, timeout,
reset, protocol error) counts in the cluster's stats, as Envoy's router charges it; and the
per-code counters (``upstream_rq_<code>``) every response counts in, created with their first
request as Envoy creates them."""
from __future__ import annotations


def charge_local_reply(cluster, status, flag=None):
    """A completed request of the cluster, in its status class and its code; no healthy host
    (``UH``) also counts ``upstream_cx_none_healthy``."""
    stats = cluster.stats
    stats.upstream_rq_completed += 1
    stats.upstream_rq_5xx += 1
    cluster.response_codes[status] += 1
    if flag == "UH":
        stats.upstream_cx_none_healthy += 1
