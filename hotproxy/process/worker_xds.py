"""A worker's share of xDS: the route tables (RDS) and cluster memberships (EDS) the arbiter
pushes, applied in place, without a new generation.

The arbiter sends them by name: RouteConfiguration bodies by route_config_name, and
ClusterLoadAssignment bodies by EDS service name, as the control plane sent them (checked by
the xDS process before they got here). A worker gets the current ones in its first message and
each change as it comes. Each worker parses them itself: a few milliseconds per update, against
a message per host per worker that parsed results would cost the arbiter.

A route table is swapped between two streams' matches (http/conn_manager.py); a membership keeps
the pools and health of the hosts that stay (upstream/cluster.py).
"""
from __future__ import annotations

import logging

from ..config.resources import parse_resource
from ..config.xds import ENDPOINTS, ROUTES
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


def _parsed(kind, name, body):
    """The parsed resource; None, logged, in the unexpected case that the xDS process let
    through what this worker cannot read (the worker keeps what it had)."""
    try:
        return parse_resource(kind, body)[0]
    except ConfigError as error:
        log.error("%s '%s' ignored: %s", kind, name, error)
        return None

