"""A worker's share of xDS: the route tables (RDS), cluster memberships (EDS) and secrets (SDS)
the arbiter pushes, applied in place, without a new generation.

The arbiter sends them by name: RouteConfiguration bodies by route_config_name, and
ClusterLoadAssignment bodies by EDS service name, as the control plane sent them (checked by
the xDS process before they got here). A worker gets the current ones in its first message and
each change as it comes. Each worker parses them itself (about 40 µs an endpoint: 0.4 s of CPU
for 10,000, docs/benchmarks.md), yielding between clusters so that requests go on meanwhile.

A route table is swapped between two streams' matches (http/conn_manager.py); a membership keeps
the pools and health of the hosts that stay (upstream/cluster.py). A rotated secret rebuilds the
TLS contexts that name it: the worker parses its config again with the new secrets and swaps
each changed context in for new handshakes (listener/tls_transport.py, upstream/transport.py);
connections already up keep theirs, as Envoy's do.
"""
from __future__ import annotations

import logging

import gevent

from ..config import parse_text
from ..config.resources import parse_resource
from ..config.xds import ENDPOINTS, ROUTES, SECRETS
from ..errors import ConfigError

log = logging.getLogger(__name__)


def apply_routes(listeners, bodies: dict) -> None:
    """``bodies``: RouteConfiguration by name; every connection manager of ``listeners`` (the
    worker's ActiveListeners) whose ``rds`` names one takes it."""
    parsed = {}
    for listener in listeners:
        for terminal in listener.terminals():
            rds = getattr(terminal.config, "rds", None)
            if rds is None or rds.route_config_name not in bodies:
                continue
            name = rds.route_config_name
            if name not in parsed:
                parsed[name] = _parsed(ROUTES, name, bodies[name])
            if parsed[name] is not None:
                terminal.set_route_config(parsed[name])


def apply_endpoints(cluster_manager, bodies: dict) -> None:
    """``bodies``: ClusterLoadAssignment by EDS service name; every EDS cluster of that service
    name takes its endpoints."""
    for cluster in cluster_manager.clusters.values():
        eds = cluster.config.eds
        if eds is not None and eds.service_name in bodies:
            endpoints = _parsed(ENDPOINTS, eds.service_name, bodies[eds.service_name])
            if endpoints is not None:
                cluster.set_endpoints(endpoints)
            gevent.sleep(0)     # an update of thousands of hosts must not stall requests


def _parsed(kind, name, body):
    """The parsed resource; None, logged, in the unexpected case that the xDS process let
    through what this worker cannot read (the worker keeps what it had)."""
    try:
        return parse_resource(kind, body)[0]
    except ConfigError as error:
        log.error("%s '%s' ignored: %s", kind, name, error)
        return None


class WorkerSecrets:
    """The config text a worker runs and the SDS secrets its TLS contexts name."""

    def __init__(self, text: str, bodies: dict):
        self.text = text
        self.secrets = {}
        self._read(bodies)

    def parse(self):
        """The worker's Bootstrap, its TLS contexts holding the current secrets."""
        return parse_text(self.text, self.secrets)

    def rotate(self, worker, bodies: dict) -> None:
        """New versions of some secrets: every listener filter chain and cluster whose TLS
        changed uses the new material for new connections."""
        self._read(bodies)
        try:
            bootstrap = self.parse()
        except ConfigError as error:
            log.error("rotated secrets not applied: %s", error)
            return
        for name, active in worker.listeners.items():
            config = next((listener for listener in bootstrap.listeners if listener.name == name), None)
            if config is None:
                continue
            for chain, fresh in zip(active.chains.chains, config.all_filter_chains()):
                if chain.tls is not None and fresh.transport_socket != chain.config.transport_socket:
                    chain.tls.use(fresh.transport_socket)
                    chain.config = fresh
        for name, cluster in worker.cluster_manager.clusters.items():
            fresh = bootstrap.cluster(name)
            if fresh is not None:
                cluster.transports.use(fresh)
        log.info("%d rotated secrets applied", len(bodies))

    def _read(self, bodies):
        for name, body in bodies.items():
            parsed = _parsed(SECRETS, name, body)
            if parsed is not None:
                self.secrets[name] = parsed[1]
