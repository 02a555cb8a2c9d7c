"""When a host's next check runs, as Envoy's HealthCheckerImplBase::interval() decides.

A cluster that never opened an upstream connection is checked every ``no_traffic_interval``.
Otherwise the result of the last check and whether it moved the host pick the interval: a pass
that leaves the host unhealthy (still short of healthy_threshold) waits
``healthy_edge_interval``, a failure short of unhealthy_threshold ``unhealthy_edge_interval``,
other failures ``unhealthy_interval`` and other passes ``interval``. Jitter is then added:
up to ``interval_jitter_percent`` of the interval and up to ``interval_jitter``, each drawn at
millisecond resolution, and the result is at least 1 ms.
"""
from __future__ import annotations

import random

from .state import CHANGE_PENDING


def next_interval(config, passed: bool, transition: str, has_traffic: bool, rng=random) -> float:
    """Seconds until the next check of a host whose last check ``passed`` (or not) with
    ``transition`` (state.py)."""
    if not has_traffic:
        base = config.no_traffic_interval
    elif passed:
        base = (config.effective_healthy_edge_interval if transition == CHANGE_PENDING
                else config.interval)
    else:
        base = (config.effective_unhealthy_edge_interval if transition == CHANGE_PENDING
                else config.effective_unhealthy_interval)
    return with_jitter(config, base, rng)


def with_jitter(config, base: float, rng=random, jitter: float | None = None) -> float:
    base_ms = int(round(base * 1000))
    percent_ms = config.interval_jitter_percent * base_ms // 100
    if percent_ms > 0:
        base_ms += rng.randrange(percent_ms)
    jitter_ms = int(round((config.interval_jitter if jitter is None else jitter) * 1000))
    if jitter_ms > 0:
        base_ms += rng.randrange(jitter_ms)
    return max(base_ms, 1) / 1000


def initial_delay(config, rng=random) -> float:
    """Before a host's first check: nothing, or up to ``initial_jitter`` (Envoy adds the percent
    jitter of a zero interval, which is nothing)."""
    if config.initial_jitter <= 0:
        return 0.0
    return with_jitter(config, 0.0, rng, jitter=config.initial_jitter)
