"""Load balancers: ``make_load_balancer(policy, hosts)`` → an object with ``pick() -> Host | None``
and ``update(hosts)``.

- ``round_robin``: ROUND_ROBIN and the EDF scheduler the weighted balancers share.
- ``least_request``: LEAST_REQUEST (power of N choices, or EDF scaled by active requests).
- ``random``: RANDOM.
- ``slow_start``: slow_start_config's weight factor for the two above.
- ``ring_hash``: RING_HASH (Envoy's ring, xxHash64 or MurmurHash2), ``pick(hash_key=None)``.
- ``maglev``: MAGLEV (Envoy's table), ``pick(hash_key=None)``.

Randomness comes from the ``random`` module unless an ``rng`` (e.g. a seeded ``random.Random``)
is given; the module's generator is reseeded in forked workers, so workers do not pick in step.
"""
from __future__ import annotations

import random as _random_module

from ...errors import ConfigError
from .least_request import LeastRequestLoadBalancer
from .maglev import MaglevLoadBalancer
from .random import RandomLoadBalancer
from .ring_hash import RingHashLoadBalancer
from .round_robin import RoundRobinLoadBalancer
from .slow_start import SlowStart


def make_load_balancer(policy, hosts, choice_count=2, rng=None, config=None, stats=None):
    """``config``: the cluster config, for the hashing balancers' ring and table sizes and the
    active_request_bias; ``stats``: the hashing balancers' gauges (stats/lb.py)."""
    rng = rng or _random_module
    if policy == "RING_HASH":
        if config is None:
            return RingHashLoadBalancer(hosts, rng, stats=stats)
        return RingHashLoadBalancer(hosts, rng, config.minimum_ring_size, config.maximum_ring_size,
                                    config.hash_function, stats)
    if policy == "MAGLEV":
        return MaglevLoadBalancer(hosts, rng, config.maglev_table_size if config is not None else 65537,
                                  stats)
    slow_start_config = getattr(config, "slow_start", None)
    slow_start = SlowStart(slow_start_config) if slow_start_config is not None else None
    if policy == "ROUND_ROBIN":
        return RoundRobinLoadBalancer(hosts, rng, slow_start)
    if policy == "LEAST_REQUEST":
        bias = config.active_request_bias if config is not None else 1.0
        return LeastRequestLoadBalancer(hosts, rng, choice_count, bias, slow_start)
    if policy == "RANDOM":
        return RandomLoadBalancer(hosts, rng)
    raise ConfigError([("lb_policy", f"lb_policy {policy} is not supported by hotproxy yet")])
