"""Locality-weighted load balancing (common_lb_config.locality_weighted_lb_config), as Envoy's
ZoneAwareLoadBalancerBase does it within one priority: a locality is chosen by earliest deadline
first over its effective weight, its load_balancing_weight times its availability (its healthy
share times the overprovisioning factor 1.4, at most 1), then a host of that locality by the
cluster's policy. A locality without a weight gets nothing. In panic the priority balances over
all its hosts, whatever their locality.
"""
from __future__ import annotations

from .priority import OVERPROVISIONING_FACTOR
from .round_robin import EdfScheduler, no_host


class _Locality:
    __slots__ = ("weight", "effective_weight", "balancer")

    def __init__(self, weight, balancer):
        self.weight = weight
        self.effective_weight = 0.0
        self.balancer = balancer


def _effective(locality):
    return locality.effective_weight


class LocalityWeightedBalancer:
    """``make_balancer()`` makes one balancer of the cluster's policy (per locality, and one for
    panic); ``weights[i]`` is locality i's load_balancing_weight (0 when unset)."""

    __slots__ = ("pick", "_localities", "_all", "_random")

    def __init__(self, make_balancer, weights, rng):
        self._localities = [_Locality(weight, make_balancer()) for weight in weights]
        self._all = make_balancer()
        self._random = rng.random
        self.pick = no_host

    def update_health(self, hosts, healthy, panic):
        """``hosts`` of this priority (each with a ``locality`` index), ``healthy`` among them."""
        if panic:
            self._all.update(hosts)
            self.pick = self._all.pick
            return
        by_locality = [[] for _ in self._localities]
        healthy_by_locality = [[] for _ in self._localities]
        for host in hosts:
            by_locality[host.locality].append(host)
        for host in healthy:
            healthy_by_locality[host.locality].append(host)
        chosen = []
        for locality, members, up in zip(self._localities, by_locality, healthy_by_locality):
            locality.balancer.update(up)
            availability = min(1.0, OVERPROVISIONING_FACTOR / 100 * len(up) / len(members)) if members else 0.0
            locality.effective_weight = locality.weight * availability
            if locality.effective_weight > 0:
                chosen.append(locality)
        if not chosen:
            self.pick = no_host
            return
        schedule = EdfScheduler(chosen, _effective, self._random()).pick
        self.pick = lambda: schedule().balancer.pick()
