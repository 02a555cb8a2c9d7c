"""LEAST_REQUEST as Envoy does it.

Equal weights: sample ``choice_count`` hosts at random (with replacement) and keep the one with
the fewest active requests, the first sampled winning ties (power of N choices). Differing
weights: EDF with each host's weight divided by (active_requests + 1) ** active_request_bias
when it is rescheduled (1.0 by default; 0 makes it weighted round robin).
"""
from __future__ import annotations

from .round_robin import EdfScheduler, no_host, weights_differ


def _load_scaled_weight(host):
    return host.weight / (host.active_requests + 1)


def _biased_weight(bias):
    if bias == 1.0:
        return _load_scaled_weight
    if bias == 0.0:
        return lambda host: host.weight
    return lambda host: host.weight / (host.active_requests + 1) ** bias


class LeastRequestLoadBalancer:
    __slots__ = ("pick", "_hosts", "_choice_count", "_random", "_weight_of", "_slow_start")

    def __init__(self, hosts, rng, choice_count=2, active_request_bias=1.0, slow_start=None):
        """``slow_start``: a lb.slow_start.SlowStart, or None."""
        self._random = rng.random
        self._choice_count = choice_count
        self._weight_of = _biased_weight(active_request_bias)
        self._slow_start = slow_start
        self.update(hosts)

    def update(self, hosts):
        hosts = list(hosts)
        self._hosts = hosts
        if not hosts:
            self.pick = no_host
        elif len(hosts) == 1:
            only = hosts[0]
            self.pick = lambda: only
        elif self._slow_start is not None and self._slow_start.any_in_window(hosts):
            self.pick = EdfScheduler(hosts, self._slow_start.scaled(self._weight_of), self._random()).pick
        elif weights_differ(hosts):
            self.pick = EdfScheduler(hosts, self._weight_of, self._random()).pick
        elif self._choice_count == 2:
            self.pick = self._pick_fewer_of_two
        else:
            self.pick = self._pick_fewest_of_sample

    def _pick_fewer_of_two(self):
        hosts = self._hosts
        count = len(hosts)
        rand = self._random
        first = hosts[int(rand() * count)]
        second = hosts[int(rand() * count)]
        return second if second.active_requests < first.active_requests else first

    def _pick_fewest_of_sample(self):
        hosts = self._hosts
        count = len(hosts)
        rand = self._random
        best = hosts[int(rand() * count)]
        for _ in range(self._choice_count - 1):
            sampled = hosts[int(rand() * count)]
            if sampled.active_requests < best.active_requests:
                best = sampled
        return best
