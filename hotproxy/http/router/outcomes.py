"""What the router tells a cluster's outlier detection about each upstream attempt.

``Cluster.record_outcome`` (upstream/cluster.py) takes the status of an attempt's final response
head, or "connect_failure", "timeout" or "reset". A circuit-breaker overflow is not reported:
Envoy leaves it out because it says nothing about the host (envoy#25487). Clusters without
outlier detection cost one attribute test.
"""
from __future__ import annotations


def report(stream, outcome):
    """Report ``outcome`` for the host of ``stream``'s current upstream connection, if any."""
    cluster = stream.cluster
    if cluster.outlier_detection is not None:
        upstream = stream.upstream
        if upstream is not None:
            cluster.record_outcome(upstream.pool.host, outcome)


def report_host(cluster, host, outcome):
    if cluster.outlier_detection is not None:
        cluster.record_outcome(host, outcome)
