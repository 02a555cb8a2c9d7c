"""/config_dump?include_eds: a cluster's ClusterLoadAssignment as Envoy 1.40 prints it. Envoy
builds it from the cluster's hosts, not from the config it was given, so this reshapes the
configured (or EDS-sent) assignment the same way:

- the cluster name is the EDS service name when there is one;
- hosts are grouped by priority, then by locality in order of first appearance (two entries of
  one locality are one), each locality with its load_balancing_weight (0 when unset);
- each host has its address, health_check_config (its hostname and a port_value that differs
  from the address's), hostname, health_status, metadata and load_balancing_weight (1 unset);
- the policy has the drop overload in parts per MILLION and the overprovisioning factor
  (140 unset).

Not known here, and so not as Envoy prints it: the health a health checker or outlier detector
gave a host (an EDS health_status is reported as Envoy's coarse health of it), and the addresses a
DNS cluster resolved (its configured names are printed).
"""
from __future__ import annotations

import json

_ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
_DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
_UNHEALTHY = frozenset(("UNHEALTHY", "DRAINING", "TIMEOUT"))


def endpoint_config(cluster: dict, assignments: dict) -> dict:
    """The ClusterLoadAssignment Envoy dumps for ``cluster`` (an Envoy-shaped dict);
    ``assignments``: the ClusterLoadAssignments EDS sent, by service name."""
    eds = cluster.get("eds_cluster_config")
    name = cluster.get("name", "")
    if eds is not None or cluster.get("type") == "EDS":
        name = (eds or {}).get("service_name") or name
        assignment = assignments.get(name) or {}
    else:
        assignment = cluster.get("load_assignment") or {}
    config = {"@type": _ASSIGNMENT, "cluster_name": name}
    endpoints = _localities(assignment.get("endpoints") or ())
    if endpoints:
        config["endpoints"] = endpoints
    config["policy"] = _policy(assignment.get("policy") or {})
    return config


def _localities(entries):
    groups = {}
    for entry in entries:
        priority = _number(entry.get("priority"), 0)
        locality = entry.get("locality") or {}
        key = (priority, json.dumps(locality, sort_keys=True))
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"locality": locality, "lb_endpoints": [],
                                   "load_balancing_weight": _number(entry.get("load_balancing_weight"), 0)}
            if priority:
                group["priority"] = priority
        elif not group["load_balancing_weight"]:
            group["load_balancing_weight"] = _number(entry.get("load_balancing_weight"), 0)
        group["lb_endpoints"].extend(_host(lb_endpoint) for lb_endpoint in entry.get("lb_endpoints") or ())
    ordered = sorted(groups.items(), key=lambda item: item[0][0])  # stable: first appearance
    return [_in_proto_order(group) for _key, group in ordered if group["lb_endpoints"]]


def _in_proto_order(group):
    return {key: group[key] for key in ("locality", "lb_endpoints", "load_balancing_weight", "priority")
            if key in group}


def _host(lb_endpoint):
    endpoint = lb_endpoint.get("endpoint") or {}
    address = endpoint.get("address") or {}
    shown = {"address": address}
    configured = endpoint.get("health_check_config") or {}
    health_check = {}
    port = _number(configured.get("port_value"), 0)
    if port and port != _number((address.get("socket_address") or {}).get("port_value"), 0):
        health_check["port_value"] = port
    if configured.get("hostname"):
        health_check["hostname"] = configured["hostname"]
    shown["health_check_config"] = health_check
    if endpoint.get("hostname"):
        shown["hostname"] = endpoint["hostname"]
    host = {"endpoint": shown, "health_status": _health(lb_endpoint.get("health_status"))}
    if lb_endpoint.get("metadata") is not None:
        host["metadata"] = lb_endpoint["metadata"]
    host["load_balancing_weight"] = _number(lb_endpoint.get("load_balancing_weight"), 1)
    return host


def _health(configured):
    """Envoy's coarse health of a host EDS gave ``configured`` (no checker has spoken)."""
    if configured in _UNHEALTHY:
        return "UNHEALTHY"
    return "DEGRADED" if configured == "DEGRADED" else "HEALTHY"


def _policy(configured):
    policy = {}
    drops = configured.get("drop_overloads") or ()
    if drops:   # Envoy keeps one drop overload, in parts per million
        percentage = drops[0].get("drop_percentage") or {}
        denominator = _DENOMINATORS.get(percentage.get("denominator", "HUNDRED"), 100)
        parts = _number(percentage.get("numerator"), 0) * (1_000_000 // denominator)
        if parts > 0:
            drop = {"category": drops[0]["category"]} if drops[0].get("category") else {}
            drop["drop_percentage"] = {"numerator": parts, "denominator": "MILLION"}
            policy["drop_overloads"] = [drop]
    policy["overprovisioning_factor"] = _number(configured.get("overprovisioning_factor"), 140)
    return policy


def _number(value, default):
    """An integer field or a UInt32Value (a bare number, or ``{value: n}``), as a number."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
