"""Worker side of stats: what the worker's components count, gathered into one message for the
arbiter.

Components keep their stats in slotted objects (stats/schema.py) and never see this module.
``collect`` reads them all: counters as deltas since the previous collect, gauges as levels,
histograms as bucket deltas, and each cluster's hosts with their own counters. The first
collect also carries every name at zero, so that /stats lists what exists before it is used.

With ``keep_samples`` (the config has stats sinks, which send every histogram value as Envoy's
statsd sinks do) the histograms' values travel too, at most SAMPLES_PER_COLLECT of each a
collect; the rest are counted as dropped.
"""
from __future__ import annotations

SAMPLES_PER_COLLECT = 20_000

# What Envoy also counts per listener, under ``listener.<address>.http.<stat_prefix>.``
LISTENER_HTTP_COUNTERS = ("downstream_rq_1xx", "downstream_rq_2xx", "downstream_rq_3xx",
                          "downstream_rq_4xx", "downstream_rq_5xx", "downstream_rq_completed")


class _Subset:
    """Some counters of a stat set shipped a second time under another prefix, with deltas of
    their own (the set's ``shipped`` belongs to its first prefix)."""
    gauges = ()
    shared_gauges = ()

    def __init__(self, stats, counters):
        self._stats = stats
        self.counters = counters
        self.shipped = {}

    def __getattr__(self, name):
        return getattr(self.__dict__["_stats"], name)


class StatsShipper:
    def __init__(self, keep_samples=False):
        self._sets = []         # (prefix, stats object)
        self._histograms = []   # (name, Recorder, declared before its first value)
        self._clusters = []     # Cluster (hosts change over time, so they are read at collect)
        self._declared = False
        self._keep_samples = keep_samples

    def add(self, prefix, stats):
        """``stats`` (a stat_set instance) reports as ``<prefix><name>``."""
        self._sets.append((prefix, stats))

    def add_listener_http(self, prefix, http_stats):
        """A connection manager's status-class counts again under its listener's ``prefix``
        (``listener.<address>.http.<stat_prefix>.``), as Envoy keeps them."""
        self.add(prefix, _Subset(http_stats, LISTENER_HTTP_COUNTERS))

    def add_histogram(self, name, recorder, declare=True):
        """``declare``: listed (as "No recorded values") before anything is recorded; Envoy
        creates a cluster's ``upstream_rq_time`` only with its first value."""
        self._histograms.append((name, recorder, declare))
        if self._keep_samples and recorder.samples is None:
            recorder.keep_samples(SAMPLES_PER_COLLECT)

    def fold(self, limit=None):
        """Bin the values every histogram holds unbinned (stats/histogram.py's ``Recorder``), at
        most ``limit`` of each: the worker does it every second, so that what it holds stays
        bounded. True when some are left unbinned."""
        left = False
        for _name, recorder, _declare in self._histograms:
            if recorder.fold(limit):
                left = True
        return left

    def add_cluster(self, cluster):
        """A cluster's stats, its ``upstream_rq_time`` and its hosts' figures."""
        self.add(f"cluster.{cluster.stat_name}.", cluster.stats)
        self.add(f"cluster.{cluster.stat_name}.", cluster.health_stats)
        self.add(f"cluster.{cluster.stat_name}.", cluster.breaker_stats)
        if cluster.lb_stats is not None:
            infix, stats = cluster.lb_stats
            self.add(f"cluster.{cluster.stat_name}.{infix}", stats)
        transports = cluster.transports
        self.add(f"cluster.{cluster.stat_name}.", transports.match_counts)
        self.add(f"cluster.{cluster.stat_name}.", cluster.response_codes)
        if transports.tls_stats is not None:
            for stats in transports.tls_stats:
                self.add(f"cluster.{cluster.stat_name}.ssl.", stats)
        http2 = cluster.__dict__.get("http2")    # its HTTP/2 pools (upstream/http2_pool.py)
        if http2 is not None:
            self.add(f"cluster.{cluster.stat_name}.", http2.stats)
            self.add(f"cluster.{cluster.stat_name}.http2.", http2.codec_stats)
        self.add_histogram(f"cluster.{cluster.stat_name}.upstream_rq_time", cluster.rq_time, declare=False)
        self._clusters.append(cluster)

    def collect(self):
        """The ``stats`` message body: ``{"c": counter deltas, "g": summed gauges,
        "gm": max-merged gauges, "h": {name: [flat bin deltas, sum delta]}, "hosts": …}``, and
        with samples kept ``"hs": {name: [values, dropped]}``."""
        full = not self._declared
        self._declared = True
        counters, gauges, shared = {}, {}, {}
        for prefix, stats in self._sets:
            for name in stats.counters:
                delta = self._delta(stats, name)
                if delta or full:
                    key = prefix + name
                    counters[key] = counters.get(key, 0) + delta
            for name in stats.gauges:
                key = prefix + name
                gauges[key] = gauges.get(key, 0) + getattr(stats, name)
            for name in stats.shared_gauges:
                key = prefix + name
                shared[key] = max(shared.get(key, 0), getattr(stats, name))
        histograms, samples = {}, {}
        for name, recorder, declare in self._histograms:
            taken = recorder.take()
            if taken is not None:
                bins, total = taken
                if histograms.get(name):  # two components sharing a name: add up
                    merged = histograms[name]
                    bins = merged[0] + bins
                    total += merged[1]
                histograms[name] = [bins, total]
            elif full and declare and name not in histograms:
                histograms[name] = None
            if recorder.samples is not None:
                taken = recorder.take_samples()
                if taken is not None:
                    values, dropped = samples.setdefault(name, [[], 0])
                    values.extend(taken[0])
                    samples[name][1] = dropped + taken[1]
        message = {"c": counters, "g": gauges, "gm": shared, "h": histograms, "hosts": self._hosts()}
        if samples:
            message["hs"] = samples
        return message

    @staticmethod
    def _delta(stats, name):
        value = getattr(stats, name)
        delta = value - stats.shipped.get(name, 0)
        stats.shipped[name] = value
        return delta

    def _hosts(self):
        """``{cluster: {host label: [weight, rq_active, cx_active, {counter: delta}]}}``."""
        out = {}
        for cluster in self._clusters:
            hosts = out[cluster.name] = {}
            for host in cluster.hosts:
                stats = host.stats
                deltas = {name: self._delta(stats, name) for name in stats.counters}
                connections = sum(pool.total for pool in host.pools())
                hosts[host.label] = [host.weight, host.active_requests, connections, deltas]
        return out
