"""How Envoy shares load between priorities (LoadBalancerBase::recalculatePerPriorityState and
recalculatePerPriorityPanic), without I/O.

A priority's health is its healthy share of its (non-excluded) hosts times the overprovisioning
factor 1.4, capped at 100%: a priority keeps all the load while at least 1/1.4 ≈ 72% of its hosts
are healthy, and spills the rest to the next ones as it drops below. A priority is in panic when
fewer than healthy_panic_threshold percent of its hosts are healthy (it then balances over all
of them); when no priority has any health left, every one is, and the load follows host counts.
"""
from __future__ import annotations

OVERPROVISIONING_FACTOR = 140     # percent


def priority_loads(counts, panic_threshold=50):
    """``counts``: (hosts, healthy, excluded) per priority, from 0. Returns (load in percent,
    in panic) per priority; the loads add up to 100 whenever there is a host."""
    health = []
    for hosts, healthy, excluded in counts:
        total = hosts - excluded
        health.append(min(100, OVERPROVISIONING_FACTOR * healthy // total) if total > 0 else 0)
    available = min(100, sum(health))
    panics = [_in_panic(hosts, healthy, excluded, panic_threshold) or available == 0
              for hosts, healthy, excluded in counts]
    if available == 0:
        return _loads_by_host_count(counts), panics
    loads, remaining, first = [], 100, None
    for index, level in enumerate(health):
        if first is None and level > 0:
            first = index
        load = min(remaining, level * 100 // available)
        loads.append(load)
        remaining -= load
    loads[first] += remaining
    return loads, panics


def _in_panic(hosts, healthy, excluded, threshold):
    total = hosts - excluded
    if total <= 0:
        return False
    return healthy * 100 < threshold * total


def _loads_by_host_count(counts):
    total = sum(hosts for hosts, _, _ in counts)
    loads = [0] * len(counts)
    if not total:
        return loads
    first = next(index for index, (hosts, _, _) in enumerate(counts) if hosts)
    for index, (hosts, _, _) in enumerate(counts):
        loads[index] = 100 * hosts // total
    loads[first] += 100 - sum(loads)
    return loads


def choose_priority(loads, point):
    """The priority whose share of [0, 100) holds ``point`` (Envoy's choosePriority: a random or
    hash value mod 100)."""
    point %= 100
    upto = 0
    for index, load in enumerate(loads):
        upto += load
        if point < upto:
            return index
    return len(loads) - 1
