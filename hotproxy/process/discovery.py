"""What the arbiter finds out about upstream hosts, once for every worker: DNS resolution
(process/dns.py), active health checking (process/health.py) and outlier detection
(process/outlier.py), prepared together for each config and attached to its generation.

The three are prepared in this order because each uses the one before: the health checker and
the outlier detector of a DNS cluster follow its resolver (of an EDS cluster, its membership:
process/eds_hosts.py), and the outlier detector un-ejects hosts its cluster's health checker finds
healthy. Each pushes its own changes to the workers of
the generations that use it; together they make the first message a worker gets.
"""
from __future__ import annotations

from .dns import DnsSupervisor
from .eds_hosts import EdsMemberships
from .health import HealthSupervisor
from .outlier import OutlierSupervisor


class Discovery:
    def __init__(self, stats, generations):
        """``generations()`` lists the arbiter's generations, oldest first."""
        self._generations = generations
        self.dns = DnsSupervisor(stats, generations)              # STRICT_DNS, LOGICAL_DNS
        self.eds = EdsMemberships()                               # EDS, for the two below
        self.health = HealthSupervisor(stats, generations)        # active health checks
        self.outliers = OutlierSupervisor(stats, generations)     # outlier detection

    def prepare(self, bootstrap):
        """(resolvers, health checkers, outlier detectors) of ``bootstrap`` by cluster name,
        started or kept, first resolutions and first health-check rounds awaited (bounded)."""
        resolvers = self.dns.prepare(bootstrap)
        memberships = {**resolvers, **self.eds.prepare(bootstrap)}
        health = self.health.prepare(bootstrap, memberships)
        return resolvers, health, self.outliers.prepare(bootstrap, memberships, health)

    def first_message(self, generation):
        """What a new worker of ``generation`` must know before it serves: every health state,
        ejection and resolution of its clusters (``health_all``)."""
        return {**self.health.snapshot(generation.health),
                "ejected": self.outliers.snapshot(generation.outliers),
                "dns": self.dns.snapshot(generation.dns)}

    def record(self, generation, message):
        """A worker's ``outcomes`` message."""
        self.outliers.record(generation, message)
        self.health.record(generation, message)

    def retain(self):
        """Stop what no live generation uses any more."""
        self.health.retain()
        self.outliers.retain()
        self.dns.retain()
        self.eds.retain(self._generations())

    def stop(self):
        self.health.stop()
        self.outliers.stop()
        self.dns.stop()
