"""RANDOM: a uniformly random host. Envoy's random balancer ignores host weights."""
from __future__ import annotations

from .round_robin import no_host


class RandomLoadBalancer:
    __slots__ = ("pick", "_hosts", "_random")

    def __init__(self, hosts, rng):
        self._random = rng.random
        self.update(hosts)

    def update(self, hosts):
        self._hosts = list(hosts)
        self.pick = self._pick_any if self._hosts else no_host

    def _pick_any(self):
        hosts = self._hosts
        return hosts[int(self._random() * len(hosts))]
