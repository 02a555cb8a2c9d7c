"""One STRICT_DNS or LOGICAL_DNS cluster's resolution, run once in the arbiter.

Every ``dns_refresh_rate`` the cluster's endpoint names are resolved (discovery/dns.py); the
result, ``[[ip, port, endpoint index], ...]``, goes to every subscriber (the push to workers, the
health checker, the outlier detector) when it differs from the last one. A failed resolution
keeps the last good membership, as Envoy does; a name that does not exist is an answer with no
address, which empties a STRICT_DNS cluster and leaves a LOGICAL_DNS one as it was (Envoy 1.40).
After a success the next resolution is ``dns_refresh_rate`` away, or with respect_dns_ttl the
smallest TTL of the records (a TTL of 0, or no record, keeps dns_refresh_rate), as Envoy's
StrictDnsClusterImpl. After a failure it is dns_refresh_rate away, or with
dns_failure_refresh_rate a jittered exponential back-off (Envoy's
JitteredExponentialBackOffStrategy: a random wait below base_interval, doubling to
max_interval), reset by the next success. Envoy keeps a timer per endpoint name; here one
resolution covers every name of the cluster.
Counters as Envoy names them for DNS clusters: ``update_attempt``, ``update_success``,
``update_failure``, ``update_no_rebuild`` (a success that changed nothing) and
``membership_change`` (hosts added or removed).
"""
from __future__ import annotations

import hashlib
import logging
import random

import gevent
from gevent.event import Event

from . import dns

log = logging.getLogger("hotproxy.arbiter")

COUNTERS = ("update_attempt", "update_success", "update_failure", "update_no_rebuild", "membership_change")


def resolver_key(cluster) -> str:
    """What a resolution depends on; equal keys (across a reload) share one resolver."""
    described = repr((cluster.name, cluster.type, cluster.dns_lookup_family, cluster.dns_refresh_rate,
                      cluster.respect_dns_ttl, cluster.dns_failure_refresh_rate, cluster.dns_resolvers,
                      [(e.address, e.load_balancing_weight, e.hostname) for e in cluster.all_endpoints()],
                      [(locality.priority, locality.load_balancing_weight) for locality in cluster.endpoints]))
    return hashlib.sha256(described.encode()).hexdigest()


class FailureBackOff:
    """The wait after each failed resolution, until ``reset`` (a success)."""

    def __init__(self, cluster, rng=random):
        self._fixed = cluster.dns_refresh_rate
        rate = cluster.dns_failure_refresh_rate
        self._base_ms, self._max_ms = ((int(rate[0] * 1000), int(rate[1] * 1000)) if rate else (0, 0))
        self._next_ms = self._base_ms
        self._rng = rng

    def reset(self):
        self._next_ms = self._base_ms

    def next(self) -> float:
        if not self._base_ms:
            return self._fixed
        backoff = self._next_ms
        self._next_ms = self._max_ms if self._next_ms > self._max_ms // 2 else self._next_ms * 2
        return min(self._rng.randrange(backoff), self._max_ms) / 1000


class ClusterResolver:
    def __init__(self, cluster, stats, resolve=dns.resolve_cluster_ttl):
        """``resolve(cluster)``: ``(entries, ttl)`` (or entries alone), OSError on failure."""
        self.cluster = cluster
        self.name = cluster.name
        self.key = resolver_key(cluster)
        #: the last good resolution, None before the first
        self.entries = None
        self.first_round = Event()
        self._subscribers = []
        self._stats = stats
        self._prefix = f"cluster.{cluster.stat_name}."
        self._resolve = resolve
        self._greenlet = None
        self.backoff = FailureBackOff(cluster)
        stats.declare(*(self._prefix + name for name in COUNTERS))

    def __repr__(self):
        return f"<ClusterResolver {self.name} hosts={len(self.entries or ())}>"

    def subscribe(self, on_change):
        """``on_change(entries)`` at each new membership, and now if there is one already."""
        self._subscribers.append(on_change)
        if self.entries is not None:
            on_change(self.entries)

    def endpoints(self):
        """The endpoint each entry's index points at."""
        return list(self.cluster.all_endpoints())

    def unsubscribe(self, on_change):
        if on_change in self._subscribers:
            self._subscribers.remove(on_change)

    def start(self):
        self._greenlet = gevent.spawn(self._refresh_forever)

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self._subscribers = []

    def refresh(self) -> float:
        """One resolution, counted; subscribers hear of a change. Returns the seconds until
        the next one."""
        count = self._count
        count("update_attempt")
        try:
            entries = self._resolve(self.cluster)
        except OSError as exc:
            count("update_failure")
            log.warning("cluster %s: DNS resolution failed: %s", self.name, exc)
            return self.backoff.next()
        finally:
            self.first_round.set()
        count("update_success")
        self.backoff.reset()
        entries, ttl = entries if isinstance(entries, tuple) else (entries, None)
        self._publish(entries)
        if self.cluster.respect_dns_ttl and entries and ttl:
            return float(ttl)
        return self.cluster.dns_refresh_rate

    def _publish(self, entries):
        count = self._count
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
            gevent.sleep(self.refresh())


def resubscribe(current, new, on_change):
    """Move ``on_change`` from the resolver ``current`` (or None) to ``new`` (a reload may hand
    a subscriber a new one); returns ``new``."""
    if new is not current:
        if current is not None:
            current.unsubscribe(on_change)
        new.subscribe(on_change)
    return new
