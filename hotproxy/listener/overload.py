"""The overload manager as a worker applies it.

The arbiter measures the resources and sends every worker its actions' states (``overload``
messages, values in [0, 1]); ``WorkerOverload.apply`` acts on them as Envoy's workers do:

- ``stop_accepting_requests`` and ``disable_http_keepalive``: the connection manager reads
  ``stop_requests`` and ``keepalive_off`` for each new request (a fraction when scaled);
- ``stop_accepting_connections``: saturated, every listener stops accepting, and new
  connections wait in the kernel's backlog;
- ``reject_incoming_connections``: that fraction of new connections is closed at once;
- ``reset_high_memory_stream``: on each change to a non-zero state, the streams holding the most
  buffered bytes are reset (``streams_to_reset``).

The global connection limit (``global_downstream_max_connections``) needs no message: every
worker counts its connections in the shared table (connection_counts.py) and refuses one more.
Without that monitor, the runtime key ``overload.global_downstream_max_connections`` sets the
limit, read at each new connection, as Envoy still reads it (deprecated there).
"""
from __future__ import annotations

import logging
import random

from ..config.overload import (DISABLE_HTTP_KEEPALIVE, DOWNSTREAM_CONNECTIONS, REJECT_INCOMING_CONNECTIONS,
                               RESET_HIGH_MEMORY_STREAM, STOP_ACCEPTING_CONNECTIONS, STOP_ACCEPTING_REQUESTS)
from ..stats.schema import OverloadResetStats, ProactiveMonitorStats
from ..runtime import get_integer
from .connection_counts import GLOBAL_CONNECTIONS

log = logging.getLogger(__name__)

#: Envoy's runtime key for the global connection limit, without the monitor
GLOBAL_LIMIT_KEY = "overload.global_downstream_max_connections"
#: Envoy's buffer memory classes (BufferMemoryAccountImpl::NUM_MEMORY_CLASSES_).
MEMORY_CLASSES = 8
#: Envoy resets at most this many streams per action change (kMaxNumberOfStreamsToResetPerInvocation).
MAX_RESETS = 50


def bernoulli(probability: float) -> bool:
    """True with ``probability``, as Envoy's RandomGenerator::bernoulli (0 never, 1 always)."""
    return probability >= 1.0 or (probability > 0.0 and random.random() < probability)


def memory_class(balance: int, power: int) -> int | None:
    """The class of a stream holding ``balance`` buffered bytes, None below the tracked minimum.
    As in Envoy's code (WatermarkBufferFactory's bitshift is the configured power minus one),
    tracking starts at 2**(power-1) bytes and the last class holds 2**(power+6) and more."""
    shifted = balance >> (power - 1)
    if not shifted:
        return None
    return min(shifted.bit_length() - 1, MEMORY_CLASSES - 1)


def streams_to_reset(candidates, state: float, power: int) -> list:
    """Envoy's resetAccountsGivenPressure: from ``candidates`` (``(buffered bytes, stream)``),
    the streams in the top ``floor(state * 8) + 1`` memory classes, largest class first (and,
    within a class, the largest balance first), at most MAX_RESETS of them."""
    classes = min(int(state * MEMORY_CLASSES) + 1, MEMORY_CLASSES)
    lowest = MEMORY_CLASSES - classes
    chosen = []
    for balance, stream in candidates:
        cls = memory_class(balance, power)
        if cls is not None and cls >= lowest:
            chosen.append((cls, balance, stream))
    chosen.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [stream for _cls, _balance, stream in chosen[:MAX_RESETS]]


class WorkerOverload:
    def __init__(self, config, counts=None, runtime_limit=False):
        """``runtime_limit``: the runtime key GLOBAL_LIMIT_KEY may limit the connections
        (config/overload.py runtime_limits_connections)."""
        names = {action.name for action in config.actions}
        #: probabilities the connection manager reads for each new request
        self.stop_requests = 0.0
        self.keepalive_off = 0.0
        #: the probability a new connection is closed at once
        self.reject_fraction = 0.0
        self.affects_http = STOP_ACCEPTING_REQUESTS in names or DISABLE_HTTP_KEEPALIVE in names
        self.rejects_connections = REJECT_INCOMING_CONNECTIONS in names
        self.reset_power = (config.minimum_account_to_track_power_of_two
                            if RESET_HIGH_MEMORY_STREAM in names else None)
        monitor = config.monitor(DOWNSTREAM_CONNECTIONS)
        self.global_connections = None
        if monitor is not None:
            self.global_connections = counts.counter(GLOBAL_CONNECTIONS, monitor.limit)
        elif runtime_limit:
            self.global_connections = counts.runtime_limited_counter(
                GLOBAL_CONNECTIONS, lambda: get_integer(GLOBAL_LIMIT_KEY, None))
        self.global_stats = ProactiveMonitorStats() if monitor is not None else None
        self.reset_stats = OverloadResetStats() if self.reset_power is not None else None
        self.listeners = []        # what stop_accepting_connections pauses
        self.http_managers = []    # whose streams reset_high_memory_stream weighs
        self._paused = False
        self._reset_state = 0.0

    def disables_keepalive(self) -> bool:
        """disable_http_keepalive, drawn for one request."""
        return bernoulli(self.keepalive_off)

    def stops_request(self) -> bool:
        """stop_accepting_requests, drawn for one request."""
        return bernoulli(self.stop_requests)

    def stat_sets(self):
        """``(prefix, stat set)`` pairs under Envoy's names."""
        sets = []
        if self.global_stats is not None:
            sets.append((f"overload.{DOWNSTREAM_CONNECTIONS}.", self.global_stats))
        if self.reset_stats is not None:
            sets.append((f"{RESET_HIGH_MEMORY_STREAM}.", self.reset_stats))
        return sets

    def apply(self, states: dict):
        """The arbiter's action states (missing actions are inactive)."""
        self.stop_requests = states.get(STOP_ACCEPTING_REQUESTS, 0.0)
        self.keepalive_off = states.get(DISABLE_HTTP_KEEPALIVE, 0.0)
        self.reject_fraction = states.get(REJECT_INCOMING_CONNECTIONS, 0.0)
        paused = states.get(STOP_ACCEPTING_CONNECTIONS, 0.0) >= 1.0
        if paused != self._paused:
            self._paused = paused
            for listener in self.listeners:
                if paused:
                    listener.pause_accepting()
                else:
                    listener.resume_accepting()
        reset_state = states.get(RESET_HIGH_MEMORY_STREAM, 0.0)
        if self.reset_power is not None and reset_state != self._reset_state:
            self._reset_state = reset_state
            if reset_state > 0.0:
                self.reset_high_memory_streams(reset_state)

    def reset_high_memory_streams(self, state: float):
        candidates = []
        for manager in self.http_managers:
            for connection in manager.connections:
                stream = connection.stream
                if stream is not None and stream.buffered:
                    candidates.append((stream.buffered, connection))
        chosen = streams_to_reset(candidates, state, self.reset_power)
        if chosen:
            log.warning("resetting %d streams holding the most buffered bytes (overload)", len(chosen))
        for connection in chosen:
            connection.reset_for_overload()
        self.reset_stats.count += len(chosen)

    def admission(self, listener_stats, counts_globally=True):
        """What a listener checks before it accepts a connection; None when nothing is. A
        listener with ``ignore_global_conn_limit`` (``counts_globally`` false) is neither limited
        nor counted by the global connection limit, as in Envoy."""
        counter = self.global_connections if counts_globally else None
        if counter is None and not self.rejects_connections:
            return None
        return Admission(self, listener_stats, counter)


class Admission:
    """A listener's checks on each new connection, in Envoy's order (TcpListenerImpl): the
    global connection limit, then reject_incoming_connections. A refused connection is closed at
    once and counted on the listener, never in ``downstream_cx_total``."""

    __slots__ = ("overload", "counter", "stats")

    def __init__(self, overload: WorkerOverload, listener_stats, counter):
        self.overload = overload
        self.counter = counter
        self.stats = listener_stats

    def admit(self, adopted=False) -> bool:
        counter = self.counter
        if adopted:
            # admitted by an older generation already: it keeps its place as it moves
            if counter is not None:
                counter.add()
            return True
        if counter is not None and not counter.try_acquire():
            self.stats.downstream_global_cx_overflow += 1
            if self.overload.global_stats is not None:     # the monitor's, not the runtime key's
                self.overload.global_stats.failed_updates += 1
            return False
        if bernoulli(self.overload.reject_fraction):
            if counter is not None:
                counter.release()
            self.stats.downstream_cx_overload_reject += 1
            return False
        return True

    def release(self):
        if self.counter is not None:
            self.counter.release()
