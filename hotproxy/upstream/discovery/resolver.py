"""One STRICT_DNS or LOGICAL_DNS cluster's resolution, run once in the arbiter.

Every ``dns_refresh_rate`` the cluster's endpoint names are resolved (discovery/dns.py); the
result, ``[[ip, port, endpoint index], ...]``, goes to every subscriber (the push to workers, the
health checker, the outlier detector) when it differs from the last one. A failed resolution
keeps the last good membership, as Envoy does; a name that does not exist is an answer with no
address, which empties a STRICT_DNS cluster and leaves a LOGICAL_DNS one as it was (Envoy 1.40).
Counters as Envoy names them for DNS clusters: ``update_attempt``, ``update_success``,
``update_failure``, ``update_no_rebuild`` (a success that changed nothing) and
``membership_change`` (hosts added or removed).
"""
from __future__ import annotations

import hashlib
import logging

import gevent
from gevent.event import Event

from . import dns

log = logging.getLogger("hotproxy.arbiter")

COUNTERS = ("update_attempt", "update_success", "update_failure", "update_no_rebuild", "membership_change")


def resolver_key(cluster) -> str:
    """What a resolution depends on; equal keys (across a reload) share one resolver."""
    described = repr((cluster.name, cluster.type, cluster.dns_lookup_family, cluster.dns_refresh_rate,
                      [(e.address, e.load_balancing_weight, e.hostname) for e in cluster.all_endpoints()],
                      [(locality.priority, locality.load_balancing_weight) for locality in cluster.endpoints]))
    return hashlib.sha256(described.encode()).hexdigest()


class ClusterResolver:
    def __init__(self, cluster, stats, resolve=dns.resolve_cluster):
        self.cluster = cluster
        self.name = cluster.name
        self.key = resolver_key(cluster)
        #: the last good resolution, None before the first
        self.entries = None
        self.first_round = Event()
        self._subscribers = []
        self._stats = stats
        self._prefix = f"cluster.{cluster.name}."
        self._resolve = resolve
        self._greenlet = None
        stats.declare(*(self._prefix + name for name in COUNTERS))

    def __repr__(self):
        return f"<ClusterResolver {self.name} hosts={len(self.entries or ())}>"

    def subscribe(self, on_change):
        """``on_change(entries)`` at each new membership, and now if there is one already."""
        self._subscribers.append(on_change)
        if self.entries is not None:
            on_change(self.entries)

    def unsubscribe(self, on_change):
        if on_change in self._subscribers:
            self._subscribers.remove(on_change)

    def start(self):
        self._greenlet = gevent.spawn(self._refresh_forever)

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self._subscribers = []

    def refresh(self):
        """One resolution, counted; subscribers hear of a change."""
        count = self._count
        count("update_attempt")
        try:
            entries = self._resolve(self.cluster)
        except OSError as exc:
            count("update_failure")
            log.warning("cluster %s: DNS resolution failed: %s", self.name, exc)
            return
        finally:
            self.first_round.set()
        count("update_success")
        previous = self.entries
        if not entries and self.cluster.type == "LOGICAL_DNS" and previous:
            entries = previous
        if entries == (previous or []):
            count("update_no_rebuild")
            if previous is not None:
                return
        else:
            count("membership_change")
        self.entries = entries
        for on_change in list(self._subscribers):
            on_change(entries)

    def _count(self, name):
        self._stats.add(self._prefix + name)

    def _refresh_forever(self):
        while True:
            self.refresh()
            gevent.sleep(self.cluster.dns_refresh_rate)


def resubscribe(current, new, on_change):
    """Move ``on_change`` from the resolver ``current`` (or None) to ``new`` (a reload may hand
    a subscriber a new one); returns ``new``."""
    if new is not current:
        if current is not None:
            current.unsubscribe(on_change)
        new.subscribe(on_change)
    return new
