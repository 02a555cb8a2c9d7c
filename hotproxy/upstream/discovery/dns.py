"""STRICT_DNS and LOGICAL_DNS membership: resolve endpoint names every ``dns_refresh_rate``.

STRICT_DNS: every address of every endpoint name is a host. LOGICAL_DNS: one host, the first
address of the (single) endpoint name, re-pointed when the name resolves elsewhere.
"""
from __future__ import annotations

import logging

import gevent
from gevent import socket

from ..host import Host

log = logging.getLogger(__name__)

_FAMILIES = {
    "V4_ONLY": (socket.AF_INET,),
    "V6_ONLY": (socket.AF_INET6,),
    "V4_PREFERRED": (socket.AF_INET, socket.AF_INET6),
    "AUTO": (socket.AF_INET6, socket.AF_INET),   # Envoy's AUTO prefers IPv6
    "ALL": (socket.AF_INET, socket.AF_INET6),
}


def resolve(name, port, lookup_family):
    """Addresses of ``name`` in Envoy's preference order for ``lookup_family``."""
    infos = socket.getaddrinfo(name, port, 0, socket.SOCK_STREAM)
    by_family = {}
    for family, _type, _proto, _canon, sockaddr in infos:
        by_family.setdefault(family, [])
        if sockaddr[:2] not in by_family[family]:
            by_family[family].append(sockaddr[:2])
    ordered = []
    for family in _FAMILIES[lookup_family]:
        ordered.extend(by_family.get(family, ()))
        if ordered and lookup_family not in ("ALL",):
            break
    return ordered


def _resolve_hosts(config):
    hosts = []
    for endpoint, labels, priority, locality in config.endpoints_with_priority():
        address = endpoint.address
        found = resolve(address.address, address.port, config.dns_lookup_family)
        if config.type == "LOGICAL_DNS":
            found = found[:1]
        hostname = endpoint.hostname or address.address
        hosts.extend(Host(addr, endpoint.load_balancing_weight, hostname, labels, priority, locality)
                     for addr in found)
    return hosts


def _refresh_forever(cluster):
    config = cluster.config
    while True:
        try:
            cluster.set_hosts(_resolve_hosts(config))
        except OSError as exc:
            # Envoy keeps the last good membership when a resolution fails.
            log.warning("cluster %s: DNS resolution failed: %s", cluster.name, exc)
        gevent.sleep(config.dns_refresh_rate)


def start(cluster):
    """Resolve now and keep refreshing in a background greenlet."""
    return gevent.spawn(_refresh_forever, cluster)
