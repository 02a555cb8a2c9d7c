"""The arbiter's stats: the totals of everything every worker ever shipped, and the levels the
live processes report now.

Counters and histograms are sums of deltas, so they stay continuous when workers crash, when a
reload replaces a generation and (through ``export``/``import_parent``) across a hot restart.
Gauges belong to the process that reports them: when it exits, ``forget`` drops its levels, so a
gauge never stays counted for a process that is gone. Sans-IO: the arbiter feeds it messages.
"""
from __future__ import annotations

from .histogram import Totals
from .selection import StatsSelection

# Histogram values waiting for the next stats sink flush, at most this many a histogram; more
# are counted in SAMPLES_DROPPED (a dead or slow sink must not cost unbounded memory).
MAX_PENDING_SAMPLES = 50_000
SAMPLES_DROPPED = "statsd.samples_dropped"


class HostTotals:
    __slots__ = ("weight", "counters", "rq_active", "cx_active")

    def __init__(self):
        self.weight = 1
        self.counters = {}
        self.rq_active = 0
        self.cx_active = 0


class StatsStore:
    def __init__(self):
        self.counters = {}
        self.histograms = {}
        self.used = set()          # names ever moved from zero (``?usedonly``)
        self._summed = {}          # source → {gauge: level}
        self._shared = {}          # source → {gauge: level}, merged by max
        self._hosts = {}           # source → {cluster: {label: [weight, rq_active, cx_active]}}
        self.host_counters = {}    # (cluster, label) → {counter: total}
        self._exported = {}        # counter → value last exported to the next epoch
        self._local = set()        # sources whose levels the next epoch measures itself
        self.selection = StatsSelection()   # stats_config: which stats exist, histogram buckets
        self.samples = {}          # histogram → values recorded since the last sink flush

    def select(self, selection: StatsSelection) -> None:
        """A config's ``stats_config`` applies: the stats its matcher rejects are forgotten and
        are not created again."""
        self.selection = selection
        if selection.accepts_all:
            return
        for table in (self.counters, self.histograms, self.samples):
            for name in [name for name in table if not selection.accepts(name)]:
                del table[name]

    # feeding

    def merge(self, source, message):
        """Add one worker's ``stats`` message (stats/shipper.py) under ``source``."""
        counters, used, accepts = self.counters, self.used, self.selection.accepts
        for name, delta in message.get("c", {}).items():
            if not accepts(name):
                continue
            counters[name] = counters.get(name, 0) + delta
            if delta:
                used.add(name)
        for key, table in (("g", self._summed), ("gm", self._shared)):
            if key in message:
                levels = message[key]
                if not self.selection.accepts_all:
                    levels = {name: level for name, level in levels.items() if accepts(name)}
                table[source] = levels
                used.update(name for name, level in levels.items() if level)
        for name, (values, dropped) in message.get("hs", {}).items():
            if accepts(name):
                self._keep_samples(name, values, dropped)
        for name, delta in message.get("h", {}).items():
            if not accepts(name):
                continue
            totals = self.histograms.get(name)
            if totals is None:
                totals = self.histograms[name] = Totals()
            if delta is not None:
                totals.add(delta[0], delta[1])
        if "hosts" in message:
            levels = {}
            for cluster, hosts in message["hosts"].items():
                levels[cluster] = {}
                for label, (weight, rq_active, cx_active, deltas) in hosts.items():
                    levels[cluster][label] = (weight, rq_active, cx_active)
                    totals = self.host_counters.setdefault((cluster, label), {})
                    for name, delta in deltas.items():
                        totals[name] = totals.get(name, 0) + delta
            self._hosts[source] = levels

    def _keep_samples(self, name, values, dropped):
        pending = self.samples.setdefault(name, [])
        room = MAX_PENDING_SAMPLES - len(pending)
        pending.extend(values[:room])
        dropped += max(len(values) - room, 0)
        if dropped:
            self.add(SAMPLES_DROPPED, dropped)

    def take_samples(self):
        """``{histogram: [values]}`` recorded since the last call (for the stats sinks)."""
        samples, self.samples = self.samples, {}
        return samples

    def set_gauges(self, source, levels, local=False, set_=False):
        """Levels the arbiter itself owns (``server.*``), replacing what ``source`` had.
        ``local``: never exported to the next epoch, which measures them itself. ``set_``:
        each counts as used (``?usedonly``) even at 0, as an Envoy gauge the server sets does
        (``server.state: 0``); else once it is not 0."""
        self._summed[source] = levels
        if local:
            self._local.add(source)
        self.used.update(levels if set_ else (name for name, level in levels.items() if level))

    def add(self, name, delta=1):
        self.counters[name] = self.counters.get(name, 0) + delta
        if delta:
            self.used.add(name)

    def declare(self, *names):
        for name in names:
            self.counters.setdefault(name, 0)

    def forget(self, source):
        """``source`` exited: its levels go; what it counted stays."""
        self._summed.pop(source, None)
        self._shared.pop(source, None)
        self._hosts.pop(source, None)

    def reset_counters(self):
        """Envoy's /reset_counters: counters restart from zero. Gauges, histograms and the
        per-host figures of /clusters stay, as in Envoy."""
        for name in self.counters:
            self.counters[name] = 0
        self._exported.clear()

    # reading

    def gauges(self, exclude=()):
        merged = {}
        for source, levels in self._summed.items():
            if source in exclude:
                continue
            for name, level in levels.items():
                merged[name] = merged.get(name, 0) + level
        for levels in self._shared.values():
            for name, level in levels.items():
                if level >= merged.get(name, 0):
                    merged[name] = level
        return merged

    def gauge(self, name):
        return self.gauges().get(name, 0)

    def hosts(self):
        """``{cluster: {label: HostTotals}}`` over the hosts the live workers report."""
        out = {}
        for levels in self._hosts.values():
            for cluster, hosts in levels.items():
                for label, (weight, rq_active, cx_active) in hosts.items():
                    host = out.setdefault(cluster, {}).get(label)
                    if host is None:
                        host = out[cluster][label] = HostTotals()
                        host.counters = self.host_counters.get((cluster, label), {})
                    host.weight = weight
                    host.rq_active += rq_active
                    host.cx_active += cx_active
        return out

    # hot restart

    def export(self):
        """For the next epoch (Envoy's hot-restart stats transfer): counter deltas since the
        last export, and the levels of our processes (not the arbiter's own ``server.*``, nor
        the overload manager's, which Envoy never imports: the next epoch measures its own)."""
        deltas = {}
        for name, value in self.counters.items():
            delta = value - self._exported.get(name, 0)
            if delta:
                deltas[name] = delta
            self._exported[name] = value
        levels = {name: level for name, level in self.gauges(exclude=self._local).items()
                  if not name.startswith(("server.", "overload."))}
        return {"c": deltas, "g": levels}

    def import_parent(self, exported, levels=True):
        """The parent epoch's counter deltas join our totals; with ``levels``, its gauge levels
        count under the source "parent" until ``forget("parent")`` when it exits."""
        for name, delta in exported.get("c", {}).items():
            self.add(name, delta)
        if levels:
            self._summed["parent"] = exported.get("g", {})
