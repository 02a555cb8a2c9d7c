"""The arbiter's view of EDS memberships, for the clusters it health-checks or watches for
outliers: one EdsMembership per EDS service name, fed with the ClusterLoadAssignments of every
xDS snapshot (process/xds_link.py), followed by the cluster's ClusterChecker and ClusterOutliers
as a DNS cluster's are followed by its ClusterResolver.

A membership speaks the resolver's interface (upstream/discovery/resolver.py): ``entries``
(``[(ip, port, index), ...]``, None before the first assignment), ``endpoints()`` (what an index
points at: the endpoint's health_check settings), ``first_round``, ``subscribe`` and
``unsubscribe``. Workers hold their own copy of each membership (process/worker_xds.py); this
one only says whom to check and whose outcomes count. Only endpoints that serve are listed: one
the control plane marks UNHEALTHY, DRAINING or TIMEOUT takes no traffic in any worker.

Assignments are parsed here only for the service names of such clusters, so a fleet of EDS
clusters without health checks or outlier detection costs the arbiter nothing.
"""
from __future__ import annotations

import logging

from gevent.event import Event

from ..config.resources import parse_resource
from ..config.xds import ENDPOINTS
from ..errors import ConfigError

log = logging.getLogger("hotproxy.arbiter")


class EdsMembership:
    def __init__(self, service_name: str):
        self.name = service_name
        self.entries = None
        self.first_round = Event()
        self._endpoints = []
        self._subscribers = []

    def __repr__(self):
        return f"<EdsMembership {self.name} hosts={len(self.entries or ())}>"

    def subscribe(self, on_change):
        """``on_change(entries)`` at each new membership, and now if there is one already."""
        self._subscribers.append(on_change)
        if self.entries is not None:
            on_change(self.entries)

    def unsubscribe(self, on_change):
        if on_change in self._subscribers:
            self._subscribers.remove(on_change)

    def endpoints(self):
        """The LbEndpoint each entry's index points at."""
        return self._endpoints

    def assign(self, localities) -> None:
        """A ClusterLoadAssignment's LocalityLbEndpoints, parsed."""
        endpoints = [endpoint for locality in localities for endpoint in locality.lb_endpoints
                     if endpoint.serves]
        entries = [(endpoint.address.address, endpoint.address.port, index)
                   for index, endpoint in enumerate(endpoints)]
        self.first_round.set()
        if entries == self.entries:
            return
        self._endpoints, self.entries = endpoints, entries
        for on_change in list(self._subscribers):
            on_change(entries)


class EdsMemberships:
    def __init__(self):
        self._bodies = {}            # service name → ClusterLoadAssignment body, as xDS sent it
        self._memberships = {}       # service name → EdsMembership

    def prepare(self, bootstrap) -> dict:
        """The memberships of ``bootstrap``'s EDS clusters that are health-checked or have
        outlier detection, by cluster name; a cluster whose assignment is known starts from it."""
        chosen = {}
        for cluster in bootstrap.clusters:
            if cluster.eds is None or not (cluster.health_checks or cluster.outlier_detection):
                continue
            service = cluster.eds.service_name
            membership = self._memberships.get(service)
            if membership is None:
                membership = self._memberships[service] = EdsMembership(service)
                if service in self._bodies:
                    self._assign(membership, self._bodies[service])
            chosen[cluster.name] = membership
        return chosen

    def update(self, bodies: dict) -> None:
        """New ClusterLoadAssignments by service name, from an xDS snapshot."""
        self._bodies.update(bodies)
        for service, body in bodies.items():
            membership = self._memberships.get(service)
            if membership is not None:
                self._assign(membership, body)

    def retain(self, generations) -> None:
        """Forget the memberships no cluster of a live generation follows."""
        used = {follower.cluster.eds.service_name for generation in generations
                for followers in (getattr(generation, "health", {}), getattr(generation, "outliers", {}))
                for follower in followers.values() if follower.cluster.eds is not None}
        for service in set(self._memberships) - used:
            del self._memberships[service]

    @staticmethod
    def _assign(membership, body):
        try:
            localities = parse_resource(ENDPOINTS, body)[0]
        except ConfigError as error:     # the xDS process checked it: this is not expected
            log.error("EDS assignment '%s' not followed by health checks: %s", membership.name, error)
            return
        membership.assign(localities)
