"""The arbiter's outlier detection: one OutlierDetector (upstream/outlier/detector.py) per
cluster that has outlier_detection, whatever the number of workers, fed with every worker's
``outcomes`` and ticking every ``interval``. Ejections are decided here once and pushed to every
worker of the generations using the detector (``ejected``), so no two workers disagree on a
host (envoy#18950).

With active health checks on the same cluster and successful_active_health_check_uneject_host
(the default), every passing check of a healthy host un-ejects it at once, as Envoy's detector
does from its health checker's callback.

A reload keeps the detector of a cluster whose outlier_detection, discovery and endpoints are
unchanged (its ejections and backoff carry on); others start clean, as in Envoy. A hot restart
starts clean. STRICT_DNS and LOGICAL_DNS clusters are resolved here too, as the workers resolve
them; an EDS cluster's hosts are those of its last ClusterLoadAssignment (process/eds_hosts.py).

Messages: ``outcomes`` from a worker (``{"cluster": name, "hosts": {"ip:port": [codes]}}``),
``ejected`` to workers (``{"cluster": name, "hosts": [[ip, port], ...]}``), and the snapshot of
every cluster in the ``health_all`` message a worker gets before it serves.
"""
from __future__ import annotations

import hashlib
import logging
import time

import gevent

from ..sockio import address_label
from ..upstream.discovery.resolver import resubscribe
from ..upstream.outlier.detector import OutlierDetector
from .messages import EJECTED

log = logging.getLogger("hotproxy.arbiter")


def detector_key(cluster) -> str:
    described = repr((cluster.name, cluster.outlier_detection, cluster.type, cluster.dns_lookup_family,
                      [endpoint.address for endpoint in cluster.all_endpoints()],
                      cluster.eds.service_name if cluster.eds is not None else None))
    return hashlib.sha256(described.encode()).hexdigest()


class ClusterOutliers:
    """One cluster's detector, its interval and its membership."""

    def __init__(self, cluster, stats, on_change, clock=time.monotonic):
        self.cluster = cluster
        self.name = cluster.name
        self.detector = OutlierDetector(cluster.outlier_detection)
        self.by_label = {}
        self._stats = stats
        self._on_change = on_change
        self._clock = clock
        self._prefix = f"cluster.{cluster.stat_name}.outlier_detection."
        self._shipped = dict.fromkeys(self.detector.counters, 0)
        self._greenlets = []
        self._resolver = None
        self._checker = None          # the cluster's ClusterChecker, when a pass un-ejects
        stats.declare(*(self._prefix + name for name in self.detector.counters))

    def start(self, resolver=None):
        """``resolver``: the cluster's ClusterResolver for STRICT_DNS and LOGICAL_DNS, its
        EdsMembership for EDS."""
        if self.cluster.type == "STATIC":
            self._set_hosts([(e.address.address, e.address.port) for e in self.cluster.all_endpoints()])
        else:
            self.use_resolver(resolver)
        self._greenlets.append(gevent.spawn(self._tick_forever))

    def use_resolver(self, resolver):
        """Take the membership from ``resolver`` (a reload may hand over a new one)."""
        self._resolver = resubscribe(self._resolver, resolver, self._resolved)

    def _resolved(self, entries):
        self._set_hosts([(ip, port) for ip, port, _index in entries])

    def use_checker(self, checker):
        """Un-eject hosts that ``checker`` (the cluster's active health checker, or None) finds
        healthy, when successful_active_health_check_uneject_host says so."""
        if not self.cluster.outlier_detection.successful_active_health_check_uneject_host:
            checker = None
        if checker is self._checker:
            return
        if self._checker is not None:
            self._checker.remove_pass_listener(self.health_check_passed)
        self._checker = checker
        if checker is not None:
            checker.add_pass_listener(self.health_check_passed)

    def health_check_passed(self, address):
        self._publish(self.detector.health_check_passed(tuple(address), self._clock()))

    def stop(self):
        self.use_checker(None)
        if self._resolver is not None:
            self._resolver.unsubscribe(self._resolved)
        for greenlet in self._greenlets:
            greenlet.kill(block=False)

    def record(self, hosts):
        """A worker's batch: ``{"ip:port": [codes]}``."""
        detector, now, changed = self.detector, self._clock(), False
        for label, codes in hosts.items():
            address = self.by_label.get(label)
            if address is not None:
                for code in codes:
                    changed |= detector.record(address, code, now)
        self._publish(changed)

    def ejected(self):
        return [list(address) for address in self.detector.ejected()]

    def gauges(self):
        return {self._prefix + "ejections_active": self.detector.ejections_active}

    def _set_hosts(self, addresses):
        self.by_label = {address_label(address): tuple(address) for address in addresses}
        before = set(self.detector.ejected())
        self.detector.set_hosts(self.by_label.values())
        self._publish(set(self.detector.ejected()) != before)

    def _tick_forever(self):
        interval = self.cluster.outlier_detection.interval
        while True:
            gevent.sleep(interval)
            self._publish(self.detector.tick(self._clock()))

    def _publish(self, changed):
        counters = self.detector.counters
        for name, value in counters.items():
            if value != self._shipped[name]:
                self._stats.add(self._prefix + name, value - self._shipped[name])
                self._shipped[name] = value
        if changed:
            self._on_change(self)


class OutlierSupervisor:
    def __init__(self, stats, generations):
        """``generations()`` lists the arbiter's generations, oldest first."""
        self._stats = stats
        self._generations = generations
        self._detectors = {}          # key → ClusterOutliers

    def prepare(self, bootstrap, resolvers=None, health=None):
        """The detectors of ``bootstrap``'s clusters by name, started or kept; ``resolvers``:
        the DNS clusters' ClusterResolvers by name (process/dns.py); ``health``: the health
        checkers of the same config by name (process/health.py)."""
        resolvers, health = resolvers or {}, health or {}
        chosen = {}
        for cluster in bootstrap.clusters:
            if cluster.outlier_detection is None:
                continue
            key = detector_key(cluster)
            outliers = self._detectors.get(key)
            if outliers is None:
                outliers = self._detectors[key] = ClusterOutliers(cluster, self._stats, self._changed)
                outliers.start(resolvers.get(cluster.name))
            elif cluster.name in resolvers:
                outliers.use_resolver(resolvers[cluster.name])
            outliers.use_checker(health.get(cluster.name))
            chosen[cluster.name] = outliers
        self._publish_gauges()
        return chosen

    def retain(self):
        used = {id(outliers) for generation in self._generations()
                for outliers in getattr(generation, "outliers", {}).values()}
        for key, outliers in list(self._detectors.items()):
            if id(outliers) not in used:
                outliers.stop()
                del self._detectors[key]
        self._publish_gauges()

    def stop(self):
        for outliers in self._detectors.values():
            outliers.stop()
        self._detectors.clear()

    def record(self, generation, message):
        """A worker's ``outcomes`` message."""
        outliers = getattr(generation, "outliers", {}).get(message.get("cluster"))
        if outliers is not None:
            outliers.record(message.get("hosts") or {})

    @staticmethod
    def snapshot(outliers):
        """``{cluster: [[ip, port], ...]}`` of the ejected hosts, for ``health_all``."""
        return {name: cluster.ejected() for name, cluster in outliers.items()}

    def _changed(self, outliers):
        message = {"t": EJECTED, "cluster": outliers.name, "hosts": outliers.ejected()}
        for generation in self._generations():
            if getattr(generation, "outliers", {}).get(outliers.name) is outliers:
                generation.send_all(message)
        self._publish_gauges()

    def _publish_gauges(self):
        levels = {}
        for outliers in self._detectors.values():
            levels.update(outliers.gauges())
        self._stats.set_gauges("outlier", levels, local=True)
