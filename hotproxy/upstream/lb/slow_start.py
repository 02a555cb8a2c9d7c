"""Slow start of ROUND_ROBIN and LEAST_REQUEST (Envoy's EdfLoadBalancerBase).

A host's slow start begins when it is added to the cluster, or, with active health checks, when
it turns healthy (``host.healthy_since``, monotonic seconds, set by the cluster). For
``window`` seconds after that its weight is scaled by

    max(min_weight_percent / 100, time_factor ** (1 / aggression))
    time_factor = max(1 ms, elapsed in whole ms) / window in ms

as Envoy's ``applySlowStartFactor`` computes it (an aggression that is not above 0 counts as 1,
as Envoy's runtime check does). While any host is within its window, the balancer picks by
earliest deadline first even when the weights are equal, re-reading the weight at each pick;
the schedule is rebuilt only when membership or health changes, as in Envoy.
"""
from __future__ import annotations

import math
import time


class SlowStart:
    __slots__ = ("window_ms", "_exponent", "_min_factor", "clock")

    def __init__(self, config, clock=time.monotonic):
        """``config``: config.cluster.SlowStart."""
        self.window_ms = int(round(config.window * 1000))
        aggression = config.aggression
        if not aggression > 0.0:     # also NaN
            aggression = 1.0
        self._exponent = 1.0 / aggression
        self._min_factor = config.min_weight_percent / 100.0
        self.clock = clock

    def factor(self, since, now):
        """The weight multiplier of a host healthy since ``since`` (monotonic s) at ``now``."""
        if since is None:
            return 1.0
        # truncated to whole ms as Envoy's duration_cast, after rounding away float noise
        elapsed_ms = round((now - since) * 1e6) // 1000
        if elapsed_ms >= self.window_ms:
            return 1.0
        time_factor = max(1, elapsed_ms) / self.window_ms
        if self._exponent != 1.0:
            time_factor = math.pow(time_factor, self._exponent)
        return max(time_factor, self._min_factor)

    def any_in_window(self, hosts):
        now = self.clock()
        window = self.window_ms
        return any(host.healthy_since is not None and (now - host.healthy_since) * 1000 < window
                   for host in hosts)

    def scaled(self, weight_of):
        """``weight_of`` with the slow-start factor applied, for the EDF scheduler."""
        clock, factor = self.clock, self.factor

        def slow_start_weight(host):
            return weight_of(host) * factor(host.healthy_since, clock())

        return slow_start_weight
