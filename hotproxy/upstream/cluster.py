"""A worker's runtime view of one cluster: its hosts, load balancer, pools and stats.

STATIC clusters know their hosts from the config. STRICT_DNS and LOGICAL_DNS clusters start with
no hosts and are filled by the arbiter's resolution (``set_resolved``), as Envoy's are: a request
arriving before the first resolution gets "no healthy upstream".

A cluster with health checks or outlier detection balances over the hosts the arbiter last
reported healthy (``set_health``) and not ejected (``set_ejected``); while fewer than
healthy_panic_threshold percent are (50 by default; the runtime's
``upstream.healthy_panic_threshold`` replaces it, read when the hosts are chosen, as Envoy reads
it when its host sets change), over all of them, counting each pick in ``lb_healthy_panic``. Endpoints of several priorities share the load as Envoy's do
(lb/priority.py), each priority with a balancer of its own (of each locality, with
locality_weighted_lb_config: lb/locality.py). The hosts to balance over are chosen
when membership or health changes, never per request.

What the router and the TCP proxy call, per request:

``pick_host(hash_key=None, downstream=None, headers=None) -> Host | None``
    The host for one attempt, None when there is none ("no healthy upstream"). ``hash_key`` is
    the 64-bit unsigned int the router computed from the route's hash_policy (xxHash64, as
    Envoy), or None when the route has none or no policy produced a hash. RING_HASH and MAGLEV
    look it up; without one they pick at random, as Envoy does. Other policies ignore it.
    ``downstream`` (the downstream connection's socket) and ``headers`` (the request's, as
    (lower-case name, value) byte pairs) are read only by ORIGINAL_DST clusters
    (original_dst.py); every other cluster ignores them. A ``hashing`` cluster (RING_HASH,
    MAGLEV) also takes ``attempt``, the host-selection attempt of a retry whose last pick the
    retry host predicate rejected (http/router/host_choice.py), as Envoy's chooseHost(hash,
    attempt).

``high``
    What routes with ``priority: HIGH`` use instead: the HIGH breakers, pools and retry
    breaker (high_priority.py).

``record_outcome(host, outcome)``
    One upstream attempt's result, for outlier detection: the HTTP status (int) of the response
    head, or a local-origin event: ``"connect_failure"`` (connecting failed or timed out),
    ``"timeout"`` (the response did not come in time), ``"reset"`` (the connection broke before a
    response head), ``"success"`` (the TCP proxy connected: Envoy's
    LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL). A circuit-breaker overflow (``ConnectFailure("overflow")``)
    is no outcome: Envoy does not report it, since it says nothing of the host (envoy#25487). An int status implies the connection succeeded. Call it
    only when ``outlier_detection`` is not None (one attribute test): clusters without outlier
    detection do nothing with it.

``try_start_retry() -> bool`` / ``end_retry()``
    The max_retries circuit breaker (or the retry budget) of the cluster as a whole, across
    every worker. ``try_start_retry`` takes a place for one retry about to be made; False means
    the breaker is open: the cluster has counted ``upstream_rq_retry_overflow`` and the router
    must not retry (Envoy's UO). ``end_retry`` gives the place back when that retry's attempt
    is over (its response decided, or the request ended), exactly once per True.
"""
from __future__ import annotations

import dataclasses
import random
import time
from collections import OrderedDict

from ..runtime import get_integer
from ..stats.breakers import ClusterBreakerStats
from ..stats.counter_map import CodeCounts
from ..stats.health import ClusterHealthStats
from ..stats.histogram import Recorder
from ..stats.lb import MaglevStats, RingHashStats
from ..stats.schema import ClusterStats
from .circuit_breaker import CircuitBreakers
from .high_priority import HighPriority
from .host import Host
from .lb import make_load_balancer
from .lb.locality import LocalityWeightedBalancer
from .lb.priority import choose_priority, priority_loads
from .connect import ConnectOptions
from .connection_limits import ConnectionLimits
from .discovery.dns import hosts_of
from .pool import ConnectionPool
from .restored_destinations import restored
from .server_names import NamesFromRequest
from .transport import TransportSockets

#: Pools a host keeps for requests that ask for connect options of their own (an SNI from their
#: Host, a PROXY protocol header for their downstream connection); the least recently used one
#: beyond this is closed, since what they ask for comes from clients.
MAX_POOLS_BY_OPTIONS = 256
#: policies that look a request's hash key up
HASHING_POLICIES = ("RING_HASH", "MAGLEV")
#: the runtime key that replaces a cluster's healthy_panic_threshold (Envoy's)
PANIC_THRESHOLD_KEY = "upstream.healthy_panic_threshold"


class Cluster:
    def __init__(self, config, counter_for=None):
        """``counter_for(resource, limit)``: the circuit breakers' counters (circuit_breaker.py)."""
        self.config = config
        self.name = config.name
        self.stat_name = config.stat_name     # cluster.<stat_name>.* (alt_stat_name)
        self.stats = ClusterStats()
        self.response_codes = CodeCounts()     # upstream_rq_<code>, each with its first response
        self.health_stats = ClusterHealthStats()
        self.health_checked = bool(config.health_checks)
        #: (ip, port) of the hosts the arbiter's checks found healthy; until it says, none is
        #: (Envoy's hosts start failed_active_hc)
        self._healthy = frozenset()
        self._excluded = frozenset()
        self._ejected = frozenset()     # by outlier detection (set_ejected)
        self.rq_time = Recorder()  # upstream_rq_time, ms
        self.breakers = CircuitBreakers(config, counter_for)
        #: what routes with priority HIGH use: their breakers and pools (high_priority.py)
        self.high = HighPriority(self, CircuitBreakers(config.high_thresholds, counter_for, "high"))
        self.breaker_stats = ClusterBreakerStats()
        #: None when the cluster has no outlier_detection (then ``record_outcome`` need not be called)
        self.outlier_detection = None
        #: None when the cluster has no health checks; else where health/passive.py reports
        #: x-envoy-immediate-health-check-fail (an OutcomeReporter)
        self.health_reporter = None
        #: RING_HASH or MAGLEV: ``pick_host`` takes a host-selection ``attempt`` that matters
        self.hashing = self._hashing = config.lb_policy in HASHING_POLICIES
        self.hosts = []
        self.transports = TransportSockets(config)
        #: common_http_protocol_options' connection lifetime, None when it sets none
        self.connection_limits = ConnectionLimits.of(config)
        #: the SNI and SAN a request asks for, when the cluster takes them from requests
        self._names_from_request = (NamesFromRequest(config) if self.transports.uses_tls and
                                    (config.auto_sni or config.auto_san_validation) else None)
        #: whether a request may need a pool of its own (``connect_options``)
        self.options_per_request = (self._names_from_request is not None
                                    or self.transports.uses_proxy_protocol)
        self._panic_threshold = config.healthy_panic_threshold
        #: with slow_start_config, the clock that stamps hosts' ``healthy_since``
        self._slow_start_clock = time.monotonic if config.slow_start is not None else None
        #: (stats prefix, gauges) of a hashing balancer (stats/lb.py), else None
        self.lb_stats = (("ring_hash_lb.", RingHashStats()) if config.lb_policy == "RING_HASH" else
                         ("maglev_lb.", MaglevStats()) if config.lb_policy == "MAGLEV" else None)
        self._locality_weighted = config.locality_weighted
        self._build_balancers()
        if config.type == "STATIC":
            self.set_hosts(_hosts_of(config))

    def _build_balancers(self):
        """One balancer per priority (per locality, with locality weights) of the config's
        endpoints."""
        config = self.config

        def make_balancer():
            return make_load_balancer(config.lb_policy, [], config.choice_count, config=config,
                                      stats=self.lb_stats and self.lb_stats[1])

        self._lbs = ([LocalityWeightedBalancer(make_balancer, weights, random)
                      for weights in config.locality_weights()] if config.locality_weighted else
                     [make_balancer() for _ in range(config.priority_count)])
        self._lb = self._lbs[0]
        self._loads = [100]
        self._panics = [False]

    def __repr__(self):
        return f"<Cluster {self.name} {self.config.type} hosts={len(self.hosts)}>"

    def pick_host(self, hash_key=None, downstream=None, headers=None, attempt=0):
        """The next host by the cluster's LB policy, or None when it has none (see the module
        docstring). Hashing policies and panic replace it with an instance attribute.
        ``attempt``: the host-selection attempt (0, then 1, 2, ... while the retry host predicate
        rejects the pick), which only a ``hashing`` cluster reads (lb/ring_hash.py, lb/maglev.py)."""
        return self._lb.pick()

    def _pick_hashed(self, hash_key=None, downstream=None, headers=None, attempt=0):
        return self._lb.pick(hash_key, attempt)

    def _pick_in_panic(self, hash_key=None, downstream=None, headers=None, attempt=0):
        self.health_stats.lb_healthy_panic += 1
        return self._lb.pick(hash_key, attempt) if self._hashing else self._lb.pick()

    def _pick_by_priority(self, hash_key=None, downstream=None, headers=None, attempt=0):
        index = choose_priority(self._loads, hash_key if hash_key is not None else random.getrandbits(32))
        if self._panics[index]:
            self.health_stats.lb_healthy_panic += 1
        balancer = self._lbs[index]
        return balancer.pick(hash_key, attempt) if self._hashing else balancer.pick()

    def record_outcome(self, host, outcome):
        """An attempt's outcome for outlier detection (module docstring)."""
        detector = self.outlier_detection
        if detector is not None:
            detector.record(host, outcome)

    def try_start_retry(self):
        """Take a max_retries place (module docstring); counts upstream_rq_retry_overflow when
        there is none."""
        if self.breakers.try_start_retry():
            return True
        self.stats.upstream_rq_retry_overflow += 1
        return False

    def end_retry(self):
        self.breakers.retries.release()

    def set_health(self, healthy, excluded=()):
        """The arbiter's latest word on which hosts are healthy (and which are excluded)."""
        healthy = frozenset(tuple(address) for address in healthy)
        if self._slow_start_clock is not None:
            self._stamp_newly_healthy(healthy - self._healthy)
        self._healthy = healthy
        self._excluded = frozenset(tuple(address) for address in excluded)
        self._rebalance()

    def _stamp_newly_healthy(self, addresses):
        """A host that turns healthy starts its slow start (Envoy's last_hc_pass_time)."""
        now = self._slow_start_clock()
        for host in self.hosts:
            if host.address in addresses:
                host.healthy_since = now

    def set_ejected(self, addresses):
        """The hosts the arbiter's outlier detection ejected now: not healthy for balancing."""
        self._ejected = frozenset(tuple(address) for address in addresses)
        self._rebalance()

    def _rebalance(self):
        hosts = self.hosts
        stats = self.stats
        stats.membership_total = len(hosts)
        if len(self._lbs) > 1 or self._locality_weighted:
            return self._rebalance_priorities()
        if not self.health_checked and not self._ejected:
            stats.membership_healthy = len(hosts)
            self._lb.update(hosts)
            return self._set_pick(False)
        healthy = self._healthy_of(hosts)
        stats.membership_healthy = len(healthy)
        excluded = self._excluded_count(hosts)
        # Envoy leaves excluded hosts out of the share
        panic = len(healthy) * 100 < self._panic_threshold_now() * (len(hosts) - excluded)
        self._lb.update(hosts if panic else healthy)
        return self._set_pick(panic)

    def _panic_threshold_now(self):
        """The runtime's upstream.healthy_panic_threshold, else the cluster's; 100 at most."""
        return min(100, get_integer(PANIC_THRESHOLD_KEY, self._panic_threshold))

    def _healthy_of(self, hosts):
        if not self.health_checked and not self._ejected:
            return hosts
        checked, healthy, ejected = self.health_checked, self._healthy, self._ejected
        return [host for host in hosts if (not checked or host.address in healthy)
                and host.address not in ejected]

    def _excluded_count(self, hosts):
        excluded = self._excluded
        count = sum(1 for host in hosts if host.address in excluded) if excluded else 0
        self.health_stats.membership_excluded = count
        return count

    def _rebalance_priorities(self):
        levels = [[] for _ in self._lbs]
        for host in self.hosts:
            levels[host.priority].append(host)
        counts, healthy_levels = [], []
        for level in levels:
            healthy = self._healthy_of(level)
            healthy_levels.append(healthy)
            counts.append((len(level), len(healthy), sum(1 for h in level if h.address in self._excluded)))
        self._excluded_count(self.hosts)
        self.stats.membership_healthy = sum(len(healthy) for healthy in healthy_levels)
        self._loads, self._panics = priority_loads(counts, self._panic_threshold_now())
        for balancer, level, healthy, panic in zip(self._lbs, levels, healthy_levels, self._panics):
            if self._locality_weighted:
                balancer.update_health(level, healthy, panic)
            else:
                balancer.update(level if panic else healthy)
        self.pick_host = self._pick_by_priority

    def _set_pick(self, panic):
        if panic:
            self.pick_host = self._pick_in_panic
        elif self._hashing:
            self.pick_host = self._pick_hashed
        else:
            self.__dict__.pop("pick_host", None)

    def pool_for_request(self, host, request_host, headers, downstream, high=False):
        """``host``'s pool for a request with Host ``request_host`` and ``headers`` from the
        ``downstream`` connection (its ``remote_ip``, ``remote_port`` and ``sock``), when
        ``options_per_request``; ``high``: of a route with priority HIGH (high_priority.py)."""
        options = (self._names_from_request(request_host, headers)
                   if self._names_from_request is not None else None)
        transport = host.transport
        if transport is not None and transport.proxy_version is not None:
            # the destination a listener filter restored is the connection's, as Envoy's local address
            destination = restored(downstream.sock) or downstream.sock.getsockname()[:2]
            options = dataclasses.replace(options or ConnectOptions(),
                                          proxy_source=(downstream.remote_ip, downstream.remote_port),
                                          proxy_destination=destination)
        if options is None:
            return self.high.pool(host) if high else host.pool
        return self._pool_by_options(host, options, high)

    def _pool_by_options(self, host, options, high=False):
        pools = host.pools_by_options
        if pools is None:
            pools = host.pools_by_options = OrderedDict()
        key = (options, "HIGH") if high else options
        pool = pools.get(key)
        if pool is not None:
            pools.move_to_end(key)
            return pool
        pool = pools[key] = self._new_pool(host, options, self.high.breakers if high else None)
        if len(pools) > MAX_POOLS_BY_OPTIONS:
            pools.popitem(last=False)[1].close()
        return pool

    def _new_pool(self, host, options=None, breakers=None):
        """A pool under the DEFAULT priority's breakers, or under ``breakers``."""
        config = self.config
        return ConnectionPool(host, config.connect_timeout, self.stats, breakers or self.breakers,
                              self.breaker_stats, options, config.upstream_bind_config,
                              self.connection_limits)

    def set_resolved(self, entries):
        """The arbiter's latest resolution of a DNS cluster: ``[[ip, port, endpoint index], ...]``
        (upstream/discovery/resolver.py)."""
        self.set_hosts(hosts_of(self.config, entries))

    def set_endpoints(self, endpoints):
        """An EDS update: the cluster's endpoints (``LocalityLbEndpoints``) are now these. Hosts
        that stay keep their pools and health; the balancers are rebuilt only when the
        priorities or locality weights changed."""
        previous = self.config
        self.config = dataclasses.replace(previous, endpoints=tuple(endpoints))
        if (self.config.priority_count != previous.priority_count
                or self._locality_weighted and self.config.locality_weights() != previous.locality_weights()):
            self._build_balancers()
        self.set_hosts(_hosts_of(self.config))

    def set_hosts(self, hosts):
        """Replace the membership, keeping the pools (and warm connections) of hosts that stay."""
        previous = {(h.address, h.weight, h.socket_match_labels): h for h in self.hosts}
        merged = []
        # a host added healthy (any, without health checks) starts its slow start now
        now = self._slow_start_clock() if self._slow_start_clock is not None else None
        checked, healthy = self.health_checked, self._healthy
        for host in hosts:
            kept = previous.pop((host.address, host.weight, host.socket_match_labels), None)
            if kept is None:
                kept = host
                kept.transport = self.transports.for_host(*host.socket_match_labels)
                kept.pool = self._new_pool(host)
                if not checked or host.address in healthy:
                    kept.healthy_since = now
            else:   # an EDS update may move a host to another priority or locality
                kept.priority, kept.locality = host.priority, host.locality
            merged.append(kept)
        for gone in previous.values():
            gone.close_pools()
        self.hosts = merged
        self._rebalance()


def _hosts_of(config):
    """The hosts of the endpoints in ``config`` (a STATIC cluster's, or the last EDS update's)."""
    return [Host((ep.address.address, ep.address.port), ep.load_balancing_weight, ep.hostname,
                 labels, priority, locality)
            for ep, labels, priority, locality in config.endpoints_with_priority() if ep.serves]
