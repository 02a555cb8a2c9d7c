"""The stats of each RDS and EDS resource, under Envoy's names: for a route configuration,
``http.<stat_prefix>.rds.<name>.`` of every connection manager that names it; for a cluster
assignment, ``cluster.<name>.`` of every cluster of that service name.

Counted from the snapshots the xDS process sends (process/xds_link.py), which carry the scopes
(xds/catalog.py ``stat_scopes``): a resource that arrives new or changed counts an
``update_attempt``, an ``update_success`` and, for routes, a ``config_reload``; its ``version``
gauge is the hash of its version_info, as Envoy's. An assignment without endpoints also counts
``update_empty``. A resource resent unchanged is not seen here, and a rejected update is counted
per type only (``listener_manager.lds.*``, ``cluster_manager.cds.*``): the NACK names the resource.
"""
from __future__ import annotations

import time

import xxhash

from ..config.xds import ENDPOINTS, ROUTES

ROUTE_COUNTERS = ("update_attempt", "update_success", "config_reload")
ENDPOINT_COUNTERS = ("update_attempt", "update_success", "update_empty")


class ResourceStats:
    def __init__(self, stats):
        self._stats = stats
        self._levels = {}

    def count(self, snapshot: dict, routes: dict, endpoints: dict) -> None:
        """``routes`` and ``endpoints``: the bodies by name that ``snapshot`` brought new or
        changed."""
        scopes = snapshot.get("stat_scopes") or {}
        versions = snapshot.get("resources") or {}
        now_ms = int(time.time() * 1000)
        for name in routes:
            for prefix in scopes.get(ROUTES, {}).get(name, ()):
                scope = f"http.{prefix}.rds.{name}."
                self._count(scope, ROUTE_COUNTERS, versions.get(ROUTES, {}).get(name))
                self._levels[scope + "config_reload_time_ms"] = now_ms
        for name, body in endpoints.items():
            empty = not any(locality.get("lb_endpoints") for locality in body.get("endpoints") or ())
            for cluster in scopes.get(ENDPOINTS, {}).get(name, ()):
                counters = ENDPOINT_COUNTERS if empty else ENDPOINT_COUNTERS[:2]
                self._count(f"cluster.{cluster}.", counters, versions.get(ENDPOINTS, {}).get(name))
        if routes or endpoints:
            self._stats.set_gauges("xds_resources", dict(self._levels), local=True)

    def _count(self, scope, counters, version_entry):
        for counter in counters:
            self._stats.add(scope + counter)
        version = version_entry[0] if version_entry else ""
        self._levels[scope + "version"] = xxhash.xxh64_intdigest((version or "").encode())
