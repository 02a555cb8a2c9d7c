"""The arbiter's side of the overload manager and of the connection counts shared by workers.

Every ``refresh_interval`` the arbiter measures what the live generations' resource monitors
watch: ``fixed_heap`` as the RSS of every hotproxy process (the arbiter, the flusher and every
worker of every generation), ``global_downstream_max_connections`` as the sum of the shared
connection count. Each generation gets the action states its own config derives from those
measurements (overload_triggers.py), in an ``overload`` message when they change and when one of
its workers becomes ready; the workers act on them (listener/overload.py). The ``overload.*``
gauges show the serving generation's view.

The shared table (listener/connection_counts.py) is created with the first config that counts
connections and lives as long as the arbiter: every worker that counts gets a slot in it when it
is spawned, and its slot is cleared when it is reaped, whatever it held.
"""
from __future__ import annotations

import logging
import time

import gevent
import psutil

from ..config.overload import DOWNSTREAM_CONNECTIONS, FIXED_HEAP
from ..listener.connection_counts import GLOBAL_CONNECTIONS, ConnectionCounts, counter_keys
from ..stats.histogram import Recorder
from .breakers import breaker_keys, gauges as breaker_gauges
from .ratelimit_buckets import bucket_keys
from .generation import STOPPED
from .messages import OVERLOAD
from .overload_triggers import action_states, gauges, pressures

log = logging.getLogger("hotproxy.arbiter")

IDLE_INTERVAL_S = 1.0  # how often to look again while no live config has a monitor
REFRESH_DELAY = "overload.refresh_interval_delay"
#: The shortest refresh_interval the arbiter honours.
MIN_INTERVAL_S = 0.01


class OverloadSupervisor:
    def __init__(self, stats, supervisor):
        """``supervisor``: whose generations and processes are measured (process/supervisor.py)."""
        self.stats = stats
        self.supervisor = supervisor
        self.counts = None       # ConnectionCounts, once a config counts connections
        self.measured = {}       # monitor name → what it last measured (bytes, connections)
        self._sent = {}          # generation number → the states its workers were last sent
        self._loop = None
        self._delays = Recorder()

    # workers

    def prepare_worker(self, child):
        """``(argv, fds, columns)``: what to add to ``child``'s command line (its slot in the
        shared connection counts, when its config counts connections) and its counters'
        columns by key, for its first message."""
        bootstrap = child.generation.bootstrap
        if bootstrap.overload_manager is not None and self._loop is None:
            self._loop = gevent.spawn(self._run)
        keys = _keys(bootstrap)
        if not keys:
            return (), (), {}
        if self.counts is None:
            self.counts = ConnectionCounts()
        self.counts.retain({key for generation in self._live() for key in _keys(generation.bootstrap)})
        self.counts.claim_slot(child)
        argv, columns = self.counts.worker_share(child, keys)
        return argv, (self.counts.fd,), columns

    def breaker_gauges(self, bootstrap):
        """The circuit_breakers.* gauges of ``bootstrap``'s clusters (process/breakers.py)."""
        counts = self.counts
        return breaker_gauges(bootstrap, counts.total if counts is not None else lambda key: 0)

    def release(self, child):
        """``child``'s process is gone: what it counted no longer counts."""
        if self.counts is not None:
            self.counts.release_slot(child)

    def bring_up_to_date(self, child):
        """A worker that just became ready gets its generation's current action states."""
        config = child.generation.bootstrap.overload_manager
        if config is not None and config.actions:
            child.send(_message(action_states(config, pressures(config, self.measured))))

    # the refresh loop

    def _live(self):
        return [generation for generation in self.supervisor.generations if generation.state != STOPPED]

    def _configs(self):
        """``(generation, overload config)`` of the live generations that have one."""
        return [(generation, generation.bootstrap.overload_manager) for generation in self._live()
                if generation.bootstrap.overload_manager is not None]

    def _interval(self):
        """The newest config's refresh_interval: a reload's takes effect with its workers."""
        configs = self._configs()
        # Envoy takes 0s too; measuring RSS that often would only burn the arbiter's CPU
        return max(configs[-1][1].refresh_interval, MIN_INTERVAL_S) if configs else IDLE_INTERVAL_S

    def _run(self):
        last = time.monotonic()
        while True:
            gevent.sleep(self._interval())
            now = time.monotonic()
            try:
                self.refresh((now - last) * 1000)
            except Exception:  # a bug here must not stop the arbiter's other work
                log.exception("overload manager: refresh failed")
            last = now

    def refresh(self, delay_ms):
        configs = self._configs()
        if not configs:
            return
        self._measure({monitor.name for _, config in configs for monitor in config.resource_monitors})
        for generation, config in configs:
            states = action_states(config, pressures(config, self.measured))
            if states != self._sent.get(generation.number):
                self._sent[generation.number] = states
                generation.send_all(_message(states))
        live = {generation.number for generation, _ in configs}
        for number in [number for number in self._sent if number not in live]:
            del self._sent[number]
        self._publish(delay_ms)

    def _measure(self, monitors):
        stats = self.stats
        if FIXED_HEAP in monitors:
            try:
                self.measured[FIXED_HEAP] = self._resident_bytes()
            except (psutil.Error, OSError) as error:
                log.info("overload manager: cannot update %s: %s", FIXED_HEAP, error)
                stats.add(f"overload.{FIXED_HEAP}.failed_updates")
        if DOWNSTREAM_CONNECTIONS in monitors:
            self.measured[DOWNSTREAM_CONNECTIONS] = self.counts.total(GLOBAL_CONNECTIONS)

    def _resident_bytes(self):
        total = 0
        for _role, _generation, _index, pid in self.supervisor.processes():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                continue  # it exited since it was listed
        return total

    def _publish(self, delay_ms):
        """The ``overload.*`` gauges, counters and refresh delays of the serving generation (of
        the first one, while it starts)."""
        stats = self.stats
        shown = self.supervisor.serving or next(iter(self._live()), None)
        config = shown.bootstrap.overload_manager if shown is not None else None
        if config is None:
            stats.set_gauges("overload", {})
            return
        pressure = pressures(config, self.measured)
        stats.set_gauges("overload", gauges(config, pressure, action_states(config, pressure)))
        if config.monitor(FIXED_HEAP) is not None:
            stats.declare(f"overload.{FIXED_HEAP}.failed_updates", f"overload.{FIXED_HEAP}.skipped_updates")
        self._delays.record(delay_ms)
        counts, total = self._delays.take()
        stats.merge("overload", {"h": {REFRESH_DELAY: [counts, total]}})


def _message(states):
    return {"t": OVERLOAD, "actions": states}


def _keys(bootstrap):
    """The shared counters a config's workers count in: connection limits, circuit breakers and
    the token buckets of local rate limits."""
    return counter_keys(bootstrap) + breaker_keys(bootstrap) + bucket_keys(bootstrap)
