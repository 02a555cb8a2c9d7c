"""ROUND_ROBIN, and the EDF scheduler that Envoy's weighted balancers share.

With equal weights Envoy rotates through the hosts from a random starting index (kept across
membership updates); with differing weights it picks by earliest deadline first, each pick
rescheduling the host 1/weight later, which interleaves hosts smoothly (3:1 → a a b a ...).
"""
from __future__ import annotations

import heapq
import math


class EdfScheduler:
    """Earliest-deadline-first over ``hosts``; ``weight_of(host)`` is re-read at each pick, so a
    changed weight applies from the host's next turn (as in Envoy's ``pickAndAdd``).

    Envoy starts the schedule a random number of picks in; ``start`` in [0, 1) plays that role:
    every host starts at the deadline it would have at that point of a cycle.
    """

    __slots__ = ("_queue", "_order", "_weight_of")

    def __init__(self, hosts, weight_of, start):
        queue = []
        for order, host in enumerate(hosts):
            weight = weight_of(host)
            queue.append(((math.floor(start * weight) + 1) / weight, order, host))
        heapq.heapify(queue)
        self._queue = queue
        self._order = len(queue)
        self._weight_of = weight_of

    def pick(self):
        queue = self._queue
        deadline, _, host = queue[0]
        order = self._order
        self._order = order + 1
        # the popped deadline is the scheduler's current time
        heapq.heapreplace(queue, (deadline + 1.0 / self._weight_of(host), order, host))
        return host


def _weight(host):
    return host.weight


def weights_differ(hosts):
    return len({host.weight for host in hosts}) > 1


class RoundRobinLoadBalancer:
    __slots__ = ("pick", "_hosts", "_index", "_random", "_slow_start")

    def __init__(self, hosts, rng, slow_start=None):
        """``slow_start``: a lb.slow_start.SlowStart, or None."""
        self._random = rng.random
        self._index = rng.getrandbits(32)
        self._slow_start = slow_start
        self.update(hosts)

    def update(self, hosts):
        hosts = list(hosts)
        self._hosts = hosts
        if not hosts:
            self.pick = no_host
        elif self._slow_start is not None and self._slow_start.any_in_window(hosts):
            self.pick = EdfScheduler(hosts, self._slow_start.scaled(_weight), self._random()).pick
        elif len(hosts) > 1 and weights_differ(hosts):
            self.pick = EdfScheduler(hosts, _weight, self._random()).pick
        else:
            self.pick = self._pick_in_turn

    def _pick_in_turn(self):
        index = self._index
        self._index = index + 1
        hosts = self._hosts
        return hosts[index % len(hosts)]


def no_host():
    return None
