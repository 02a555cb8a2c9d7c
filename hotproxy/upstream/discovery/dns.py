"""STRICT_DNS and LOGICAL_DNS membership: resolve endpoint names every ``dns_refresh_rate``.

getaddrinfo answers, unless the cluster respects DNS TTLs or names its resolvers: then
dns_query.py asks DNS itself and the answer's TTL comes back too (``resolve_cluster_ttl``).

STRICT_DNS: every address of every endpoint name is a host. LOGICAL_DNS: one host, the first
address of the (single) endpoint name, re-pointed when the name resolves elsewhere.
"""
from __future__ import annotations

import json
import logging
import os

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


#: Test-only hook, read from the environment (no config reaches it): a JSON file
#: ``{name: [ip, ...]}`` answering for the names it lists, re-read at each resolution, and a
#: ``<file>.log`` that gets this process's pid on each resolution, so that an integration
#: test can change a name's addresses and see which process resolved.
TEST_RESOLVER_ENV = "HOTPROXY_TEST_RESOLVER"


_NO_ADDRESS = tuple(getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name))


def _test_answer(path, name, port):
    with open(path + ".log", "a") as log_file:
        log_file.write(f"{os.getpid()}\n")
    with open(path) as answers:
        found = json.load(answers).get(name)
    if found is None:
        return None
    return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, None, None, "", (ip, port)) for ip in found]


def resolve_with_ttl(name, port, config):
    """``(addresses, ttl)`` of ``name``: ttl is None when the answer has none (getaddrinfo,
    /etc/hosts, the test hook)."""
    test_file = os.environ.get(TEST_RESOLVER_ENV)
    if test_file or not (config.respect_dns_ttl or config.dns_resolvers):
        return resolve(name, port, config.dns_lookup_family), None
    from . import dns_query  # dnspython, only for the clusters that need it: it is slow to import
    if dns_query.in_hosts_file(name):
        return resolve(name, port, config.dns_lookup_family), None
    addresses, ttl = dns_query.resolve(name, config.dns_lookup_family, config.dns_resolvers)
    return [(ip, port) for ip in addresses], ttl


def resolve(name, port, lookup_family):
    """Addresses of ``name`` in Envoy's preference order for ``lookup_family``."""
    test_file = os.environ.get(TEST_RESOLVER_ENV)
    infos = _test_answer(test_file, name, port) if test_file else None
    if infos is None:
        try:
            infos = socket.getaddrinfo(name, port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            # a name that does not exist (or has no address) is an answer, as for Envoy: no hosts
            if exc.errno in _NO_ADDRESS:
                return []
            raise
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


def resolve_cluster(config):
    """``[[ip, port, endpoint index], ...]`` of a STRICT_DNS or LOGICAL_DNS cluster now, its
    endpoints in config order; OSError when a name does not resolve."""
    return resolve_cluster_ttl(config)[0]


def resolve_cluster_ttl(config):
    """``(entries, ttl)``: ``resolve_cluster``'s entries and the smallest TTL of the records
    they came from (None when no answer had one)."""
    entries, ttl = [], None
    for index, (endpoint, _labels, _priority, _locality) in enumerate(config.endpoints_with_priority()):
        address = endpoint.address
        found, found_ttl = resolve_with_ttl(address.address, address.port, config)
        if config.type == "LOGICAL_DNS":
            found = found[:1]
        if found and found_ttl is not None:
            ttl = found_ttl if ttl is None else min(ttl, found_ttl)
        entries.extend([ip, port, index] for ip, port in found)
    return entries, ttl


def hosts_of(config, entries):
    """The Hosts of ``resolve_cluster``'s ``entries``."""
    endpoints = list(config.endpoints_with_priority())
    hosts = []
    for ip, port, index in entries:
        endpoint, labels, priority, locality = endpoints[index]
        hostname = endpoint.hostname or endpoint.address.address
        hosts.append(Host((ip, port), endpoint.load_balancing_weight, hostname, labels, priority, locality))
    return hosts


def _resolve_hosts(config):
    return hosts_of(config, resolve_cluster(config))


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
