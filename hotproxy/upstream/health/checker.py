"""A cluster's active health checking: one HostSession per host, the cluster's membership (from
the config, or resolved here for STRICT_DNS and LOGICAL_DNS clusters, as the workers resolve it),
its ``cluster.<name>.health_check.*`` counters and the event log.

``on_change(checker)`` is called whenever a host's health changes or hosts come and go; the
owner (process/health.py) pushes ``healthy()`` to the workers. ``on_pass`` listeners hear of
every passing check of a healthy host (outlier detection un-ejects it, as Envoy's
addHostCheckCompleteCb); ``passive_failure`` takes a worker's x-envoy-immediate-health-check-fail. ``first_round`` is set once every
host has had its first check, so that a new generation starts with known health, as Envoy warms a
cluster until its first round of checks is done.
"""
from __future__ import annotations

import hashlib
import logging
import time

from gevent.event import Event

from ...sockio import address_label
from ..discovery.resolver import resubscribe
from ..transport import TransportSockets
from .events import EventLog, event_line
from .http_probe import request_bytes
from .session import HostSession

log = logging.getLogger("hotproxy.health_check")

COUNTERS = ("attempt", "success", "failure", "network_failure", "passive_failure",
            "verify_cluster", "degraded")


def checker_key(cluster) -> str:
    """What a checker's state depends on: the cluster's name, its health check, its discovery,
    its endpoints with their health-check addresses and its transport sockets. Equal keys (across a reload, or from
    the previous epoch of a hot restart) may carry the state over."""
    endpoints = [(endpoint.address, endpoint.health_check_address())
                 for endpoint in cluster.all_endpoints()]
    described = repr((cluster.name, cluster.health_checks, cluster.type, cluster.dns_lookup_family,
                      cluster.dns_refresh_rate if cluster.type != "STATIC" else None, endpoints,
                      cluster.eds.service_name if cluster.eds is not None else None,
                      cluster.transport_socket, cluster.transport_socket_matches))
    return hashlib.sha256(described.encode()).hexdigest()


class ClusterChecker:
    def __init__(self, cluster, stats, on_change, has_traffic, clock=time.time):
        """``stats`` is the arbiter's StatsStore; ``has_traffic()`` says whether the cluster ever
        opened an upstream connection (Envoy's no_traffic_interval applies until it does)."""
        self.cluster = cluster
        self.name = cluster.name
        self.stat_name = cluster.stat_name
        self.key = checker_key(cluster)
        self.health_check = cluster.health_checks[0]
        self.http_request = (request_bytes(self.health_check.http, cluster.name)
                             if self.health_check.http is not None else None)
        self.sessions = {}            # (ip, port) → HostSession
        self.first_round = Event()
        self.has_traffic = has_traffic
        self._stats = stats
        self._prefix = f"cluster.{cluster.stat_name}.health_check."
        self._on_change = on_change
        self._event_log = EventLog(self.health_check.event_log_paths)
        # checks go over the transport (TLS, PROXY protocol) the host's traffic takes, as Envoy's
        self._transports = (TransportSockets(cluster) if cluster.transport_socket is not None
                            or cluster.transport_socket_matches else None)
        self._clock = clock
        # a discovery.resolver.ClusterResolver (DNS clusters), or a process/eds_hosts.py
        # EdsMembership (EDS clusters)
        self._resolver = None
        self._resumed = {}            # label → (healthy, excluded), from a previous checker
        self._pass_listeners = []     # on_pass(address) after each passing check of a healthy host
        stats.declare(*(self._prefix + name for name in COUNTERS))

    def __repr__(self):
        return f"<ClusterChecker {self.name} hosts={len(self.sessions)}>"

    def start(self, resumed=None, resolver=None):
        """``resumed``: ``{label: (healthy, excluded)}`` of the hosts a previous checker with the
        same key knew; they keep that state instead of starting failed. ``resolver``: the
        cluster's ClusterResolver for STRICT_DNS and LOGICAL_DNS, its EdsMembership for EDS."""
        self._resumed = dict(resumed or {})
        if self.cluster.type == "STATIC":
            self._set_targets(self._static_targets())
        else:
            self.use_resolver(resolver)

    def use_resolver(self, resolver):
        """Take the membership from ``resolver`` (a reload may hand over a new one)."""
        if resolver is self._resolver:
            return
        previous, self._resolver = self._resolver, resolver    # _resolved reads it at once
        resubscribe(previous, resolver, self._resolved)
        if resolver.first_round.is_set() and resolver.entries is None:
            self._check_first_round(give_up=True)

    def stop(self):
        if self._resolver is not None:
            self._resolver.unsubscribe(self._resolved)
        for session in self.sessions.values():
            session.stop()
        self.sessions = {}

    # what the owner reads

    def healthy(self):
        """The (ip, port) of every healthy host."""
        return [address for address, session in self.sessions.items() if session.health.healthy]

    def excluded(self):
        """The (ip, port) of every host excluded by x-envoy-immediate-health-check-fail."""
        return [address for address, session in self.sessions.items() if session.health.excluded]

    def healthy_count(self):
        return sum(1 for session in self.sessions.values() if session.health.healthy)

    def flags(self):
        """``{label: (health_flags, failed, excluded)}``."""
        return {session.label: (session.health.flags, session.health.failed, session.health.excluded)
                for session in self.sessions.values()}

    def states(self):
        """``{label: (healthy, excluded)}``, for the next checker (``start(resumed=...)``)."""
        return {session.label: (session.health.healthy, session.health.excluded)
                for session in self.sessions.values() if session.checked}

    # what sessions report

    def count(self, name):
        self._stats.add(self._prefix + name)

    def add_pass_listener(self, on_pass):
        self._pass_listeners.append(on_pass)

    def remove_pass_listener(self, on_pass):
        if on_pass in self._pass_listeners:
            self._pass_listeners.remove(on_pass)

    def passive_failure(self, label):
        """A worker saw x-envoy-immediate-health-check-fail from the host ``label`` (ip:port)."""
        for session in list(self.sessions.values()):
            if session.label == label:
                if session.passive_failure():
                    self._on_change(self)
                return

    def host_checked(self, session, events, passed=False):
        if passed and session.health.healthy:
            for on_pass in list(self._pass_listeners):
                on_pass(session.address)
        if events and self._event_log:
            now = self._clock()
            self._event_log.write("".join(
                event_line(event, self.health_check.checker_type, self.name, session.address, now)
                for event in events))
        if any(event.kind in ("add_healthy", "eject_unhealthy") for event in events):
            self._on_change(self)
        self._check_first_round()

    # membership

    def _static_targets(self):
        return [((endpoint.address.address, endpoint.address.port), endpoint.health_check_address(),
                 self._transport_for(labels))
                for endpoint, labels in self.cluster.endpoints_with_labels()]

    def _resolved(self, entries):
        endpoints = self._resolver.endpoints()
        targets = []
        for ip, port, index in entries:
            endpoint = endpoints[index]
            config = endpoint.health_check
            check_ip = config.address.address if config is not None and config.address else ip
            check_port = config.port if config is not None and config.port else port
            targets.append(((ip, port), (check_ip, check_port),
                            self._transport_for((endpoint.socket_match_labels, None))))
        self._set_targets(targets)

    def _transport_for(self, labels):
        """The transport of a host with these (endpoint, locality) socket match labels, or the
        one the health check's transport_socket_match_criteria choose; None: plain text."""
        if self._transports is None:
            return None
        criteria = self.health_check.transport_socket_match_criteria
        return self._transports.for_host(*((criteria, None) if criteria is not None else labels))

    def _set_targets(self, targets):
        wanted = {address: (check_address, transport) for address, check_address, transport in targets}
        changed = False
        for address in list(self.sessions):
            if address not in wanted:
                self.sessions.pop(address).stop()
                changed = True
        for address, (check_address, transport) in wanted.items():
            session = self.sessions.get(address)
            if session is not None and (session.check_address, session.transport) == (check_address, transport):
                continue
            if session is not None:
                session.stop()
            session = self.sessions[address] = HostSession(self, address, check_address, transport)
            resumed = self._resumed.pop(address_label(address), None)
            if resumed is not None:
                session.health.resume(*resumed)
                session.checked = True
            session.start()
            changed = True
        if changed:
            self._on_change(self)
        self._check_first_round()

    def _check_first_round(self, give_up=False):
        if not self.first_round.is_set() and (
                give_up or all(session.checked for session in self.sessions.values())):
            self.first_round.set()
