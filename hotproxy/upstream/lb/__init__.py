"""Load balancers: ``make_load_balancer(policy, hosts)`` → an object with ``pick() -> Host | None``
and ``update(hosts)``.

- ``round_robin``: ROUND_ROBIN and the EDF scheduler the weighted balancers share.
- ``least_request``: LEAST_REQUEST (power of N choices, or EDF scaled by active requests).
- ``random``: RANDOM.

Randomness comes from the ``random`` module unless an ``rng`` (e.g. a seeded ``random.Random``)
is given; the module's generator is reseeded in forked workers, so workers do not pick in step.
"""
from __future__ import annotations

import random as _random_module

from ...errors import ConfigError
from .least_request import LeastRequestLoadBalancer
from .random import RandomLoadBalancer
from .round_robin import RoundRobinLoadBalancer


def make_load_balancer(policy, hosts, choice_count=2, rng=None):
    rng = rng or _random_module
    if policy == "ROUND_ROBIN":
        return RoundRobinLoadBalancer(hosts, rng)
    if policy == "LEAST_REQUEST":
        return LeastRequestLoadBalancer(hosts, rng, choice_count)
    if policy == "RANDOM":
        return RandomLoadBalancer(hosts, rng)
    raise ConfigError([("lb_policy", f"lb_policy {policy} is not supported by hotproxy yet")])
