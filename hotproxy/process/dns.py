"""The arbiter's DNS discovery: one ClusterResolver (upstream/discovery/resolver.py) per
STRICT_DNS or LOGICAL_DNS cluster, whatever the number of workers, its hosts pushed to them.

Each generation holds the resolvers of its config (``generation.dns``, cluster name → resolver).
A reload ``prepare``s the resolvers of the new config first: a cluster whose discovery settings
and endpoints are unchanged keeps its running resolver (and so its membership); others get a new
one, whose first resolution is awaited (bounded) before the new workers start. Resolvers no
generation uses any more are stopped (``retain``). The health checker and the outlier detector
of a DNS cluster subscribe to the same resolver.

Messages to workers: the ``dns`` map of the first message a worker gets (beside ``health_all``:
the worker waits for it before it serves), and ``dns_hosts`` when one cluster's membership
changes; both carry ``[[ip, port, endpoint index], ...]``.
"""
from __future__ import annotations

import time

from ..upstream.discovery.resolver import ClusterResolver, resolver_key
from .messages import DNS_HOSTS

#: how long a new resolver's first resolution may delay the start of workers
FIRST_RESOLUTION_WAIT_S = 5.0
DNS_TYPES = ("STRICT_DNS", "LOGICAL_DNS")


class DnsSupervisor:
    def __init__(self, stats, generations):
        """``generations()`` lists the arbiter's generations, oldest first."""
        self._stats = stats
        self._generations = generations
        self._resolvers = {}          # key → ClusterResolver

    def prepare(self, bootstrap):
        """The resolvers of ``bootstrap``'s DNS clusters by name, started (or kept), their first
        resolution awaited."""
        chosen, fresh = {}, []
        for cluster in bootstrap.clusters:
            if cluster.type not in DNS_TYPES:
                continue
            key = resolver_key(cluster)
            resolver = self._resolvers.get(key)
            if resolver is None:
                resolver = self._resolvers[key] = ClusterResolver(cluster, self._stats)
                resolver.subscribe(self._pusher(resolver))
                resolver.start()
                fresh.append(resolver)
            chosen[cluster.name] = resolver
        deadline = time.monotonic() + FIRST_RESOLUTION_WAIT_S
        for resolver in fresh:
            resolver.first_round.wait(max(deadline - time.monotonic(), 0))
        return chosen

    def retain(self):
        """Stop the resolvers no live generation uses."""
        used = {id(resolver) for generation in self._generations()
                for resolver in getattr(generation, "dns", {}).values()}
        for key, resolver in list(self._resolvers.items()):
            if id(resolver) not in used:
                resolver.stop()
                del self._resolvers[key]

    def stop(self):
        for resolver in self._resolvers.values():
            resolver.stop()
        self._resolvers.clear()

    @staticmethod
    def snapshot(resolvers):
        """The ``dns`` map of a worker's first message: every resolved cluster's entries."""
        return {name: resolver.entries for name, resolver in resolvers.items()
                if resolver.entries is not None}

    def _pusher(self, resolver):
        def push(entries):
            message = {"t": DNS_HOSTS, "cluster": resolver.name, "hosts": entries}
            for generation in self._generations():
                if getattr(generation, "dns", {}).get(resolver.name) is resolver:
                    generation.send_all(message)
        return push
