"""This worker's clusters by name."""
from __future__ import annotations

from .cluster import Cluster
from .original_dst import OriginalDstCluster
from .outlier.outcomes import OutcomeReporter


class ClusterManager:
    def __init__(self, cluster_configs, counter_factory=None):
        """``counter_factory(cluster_name)`` gives a cluster's ``counter_for`` (cluster.py), the
        worker's shared circuit-breaker counters; None counts in this process only."""
        self.clusters = {config.name: _cluster_class(config)(config, counter_factory and
                                                             counter_factory(config.name))
                         for config in cluster_configs}
        #: ``get(name)``: the cluster of that name, else None (the dict's own, called per request)
        self.get = self.clusters.get
        #: ORIGINAL_DST clusters, which sweep their unused hosts away
        self._original_dst = [cluster for cluster in self.clusters.values()
                              if isinstance(cluster, OriginalDstCluster)]

    @property
    def health_checked(self):
        """Whether any cluster waits for the arbiter's health checks."""
        return any(cluster.health_checked for cluster in self.clusters.values())

    @property
    def dns_discovered(self):
        """Whether any cluster's hosts come from the arbiter's DNS resolution."""
        return any(cluster.config.type in ("STRICT_DNS", "LOGICAL_DNS") for cluster in self.clusters.values())

    def set_resolved(self, name, entries):
        cluster = self.clusters.get(name)
        if cluster is not None and cluster.config.type in ("STRICT_DNS", "LOGICAL_DNS"):
            cluster.set_resolved(entries)

    @property
    def outlier_detected(self):
        """Whether any cluster has outlier detection (decided in the arbiter)."""
        return any(cluster.config.outlier_detection is not None for cluster in self.clusters.values())

    def report_outcomes(self, send):
        """Clusters with outlier detection send their attempts' outcomes with ``send(cluster_name,
        batch)`` (upstream/outlier/outcomes.py); health-checked ones send the same way what
        health/passive.py reports."""
        for cluster in self.clusters.values():
            reporter = OutcomeReporter(cluster.name, send)
            if cluster.config.outlier_detection is not None:
                cluster.outlier_detection = reporter
            if cluster.health_checked:
                cluster.health_reporter = reporter

    def set_ejected(self, name, hosts):
        cluster = self.clusters.get(name)
        if cluster is not None and cluster.config.outlier_detection is not None:
            cluster.set_ejected(hosts)

    def set_health(self, name, healthy, excluded=()):
        cluster = self.clusters.get(name)
        if cluster is not None and cluster.health_checked:
            cluster.set_health(healthy, excluded)

    def start(self):
        """ORIGINAL_DST clusters start sweeping; DNS clusters are resolved by the arbiter
        (process/dns.py)."""
        for cluster in self._original_dst:
            cluster.start()

    def stop(self):
        for cluster in self._original_dst:
            cluster.stop()
        for cluster in self.clusters.values():
            for host in cluster.hosts:
                host.close_pools()
            http2 = getattr(cluster, "http2", None)     # set once a router attached its pools
            if http2 is not None:
                http2.close()


def _cluster_class(config):
    return OriginalDstCluster if config.type == "ORIGINAL_DST" else Cluster
