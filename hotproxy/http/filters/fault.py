"""The fault injection filter (envoy.filters.http.fault), as Envoy 1.40's: for a request of the
configured upstream cluster, downstream nodes and headers, a delay (fixed or from
x-envoy-fault-delay-request, flag DI) and then an abort (fixed status or from
x-envoy-fault-abort-request; "fault filter abort" or ``response_body``, flag FI), each for its
percentage of requests (x-envoy-fault-*-percentage lowers a header-controlled fault's), and a
response rate limit (fixed KiB/s or from x-envoy-fault-throughput-response) for its percentage.
``max_active_faults`` caps the streams with a fault at once (counted per worker process).

The delay sleeps in the connection's greenlet before the request goes on; the response rate
limit holds each piece of the response body until the bytes so far fit the rate, with a first
slice of 1/16 s worth free, as Envoy's StreamRateLimiter.

The layered runtime overrides each setting as in Envoy, under the config's ``*_runtime`` keys
or Envoy's defaults (fault.http.delay.fixed_delay_percent, .delay.fixed_duration_ms,
.abort.abort_percent, .abort.http_status, .max_active_faults, .rate_limit.response_percent),
read once a fault of that kind is configured and the request matches: a percentage key replaces
the (header-lowered) percentage, a duration or status key the configured (or header's) value.
With x-envoy-downstream-service-cluster: C, ``fault.http.C.delay.fixed_delay_percent`` and
``fault.http.C.abort.abort_percent`` are drawn too (either draw injects), and
``fault.http.C.delay.fixed_duration_ms`` / ``fault.http.C.abort.http_status`` replace the value.

Stats: ``http.<stat_prefix>.fault.{delays_injected,aborts_injected,response_rl_injected,
faults_overflow}`` and the gauge ``active_faults``.
"""
from __future__ import annotations

import random
import time

import gevent

from ...runtime import current
from ...stats.schema import stat_set
from ..router.matchers import compile_header_matcher
from .api import CONTINUE, FilterFactory, HttpFilter, header_value

FaultStats = stat_set("FaultStats", ("delays_injected", "aborts_injected", "response_rl_injected",
                                     "faults_overflow"), gauges=("active_faults",))

DELAY_HEADER = b"x-envoy-fault-delay-request"
DELAY_PERCENTAGE_HEADER = b"x-envoy-fault-delay-request-percentage"
ABORT_HEADER = b"x-envoy-fault-abort-request"
ABORT_PERCENTAGE_HEADER = b"x-envoy-fault-abort-request-percentage"
THROUGHPUT_HEADER = b"x-envoy-fault-throughput-response"
THROUGHPUT_PERCENTAGE_HEADER = b"x-envoy-fault-throughput-response-percentage"
NODE_HEADER = b"x-envoy-downstream-service-node"
CLUSTER_HEADER = b"x-envoy-downstream-service-cluster"
NO_LIMIT = 2**64 - 1          # Envoy's max_active_faults when unset
BODY = b"fault filter abort"
DETAILS = "fault_filter_abort"
SLICES_A_SECOND = 16          # Envoy's StreamRateLimiter paces in 1/16 s slices
_SCHEME = b"http"


def factory(config, context):
    return FaultFactory(config, context)


class FaultFactory(FilterFactory):
    def __init__(self, config, context, rng=None, sleep=gevent.sleep, clock=time.monotonic):
        self.stats = FaultStats()
        self.prefix = f"{context.stat_prefix}fault."
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.clock = clock
        self.settings = Settings(config)
        self._route_settings = {}        # id(per-route config) → (config, Settings)

    def stat_sets(self):
        return [(self.prefix, self.stats)]

    def settings_for(self, stream):
        config = stream.route_config(self.name)
        if config is None:
            return self.settings
        entry = self._route_settings.get(id(config))
        if entry is None or entry[0] is not config:
            entry = self._route_settings[id(config)] = (config, Settings(config))
        return entry[1]

    def create(self, stream):
        settings = self.settings_for(stream)
        return None if settings.inert else FaultFilter(self, settings)

    def enabled(self, percentage):
        numerator, denominator = percentage
        return numerator > 0 and (numerator >= denominator
                                  or self.rng.randrange(denominator) < numerator)

    def runtime_enabled(self, percents, key, percentage):
        """Envoy's featureEnabled(key, percentage): the runtime's percentage for ``key`` (a
        fractional percent, or an integer as a percentage) drawn with 64 random bits, else
        ``percentage`` drawn as without a runtime."""
        value = percents.get(key)
        if value is None:
            return self.enabled(percentage)
        numerator, denominator = value
        return self.rng.getrandbits(64) % denominator < numerator


class Settings:
    """One HTTPFault config, compiled."""

    def __init__(self, config):
        self.config = config
        self.delay = config.delay
        self.abort = config.abort
        self.rate_limit = config.response_rate_limit
        self.upstream_cluster = config.upstream_cluster
        self.nodes = frozenset(node.encode() for node in config.downstream_nodes)
        self.checks = [compile_header_matcher(matcher, f"headers[{index}]")
                       for index, matcher in enumerate(config.headers)]
        self.max_active = NO_LIMIT if config.max_active_faults is None else config.max_active_faults
        self.inert = self.delay is None and self.abort is None and self.rate_limit is None

    def applies(self, stream):
        request = stream.request
        if self.upstream_cluster:
            route = stream.route
            if route is None or getattr(route, "cluster_name", None) != self.upstream_cluster:
                return False
        if self.nodes and header_value(request.headers, NODE_HEADER) not in self.nodes:
            return False
        return all(check(request.headers, request.host, request.target, request.method, _SCHEME)
                   for check in self.checks)


class FaultFilter(HttpFilter):
    __slots__ = ("factory", "settings", "active", "pacer")

    def __init__(self, factory, settings):
        self.factory = factory
        self.settings = settings
        self.active = False
        self.pacer = None

    def decode_headers(self, stream, end_stream):
        settings = self.settings
        if not settings.applies(stream):
            return CONTINUE
        headers = stream.request.headers
        factory = self.factory
        snapshot = current()
        cluster = header_value(headers, CLUSTER_HEADER)
        if cluster is not None:
            cluster = cluster.decode("latin-1")
        if settings.rate_limit is not None:
            self._setup_rate_limit(headers, snapshot)
        delay = self._delay_ms(headers, snapshot, cluster)
        if delay and self._activate(snapshot):
            factory.stats.delays_injected += 1
            stream.flag("DI")
            factory.sleep(delay / 1000)
        status = self._abort_status(headers, snapshot, cluster)
        if status is not None and self._activate(snapshot):
            factory.stats.aborts_injected += 1
            body = settings.abort.response_body.encode() or BODY
            return stream.send_local_reply(status, body, details=DETAILS, flag="FI")
        return CONTINUE

    def encode_data(self, stream, data, end_stream):
        pacer = self.pacer
        if pacer is not None and data:
            wait = pacer.wait_for(len(data))
            if wait > 0:
                self.factory.sleep(wait)
        return CONTINUE

    def on_stream_end(self, stream):
        if self.active:
            self.active = False
            self.factory.stats.active_faults -= 1

    def _activate(self, snapshot):
        """Count this stream among the active faults (once), unless max_active_faults are (the
        runtime's max_active_faults_runtime key, else the config's, else no limit)."""
        if self.active:
            return True
        stats = self.factory.stats
        settings = self.settings
        limit = snapshot.integers.get(settings.config.max_active_faults_runtime,
                                      settings.max_active)
        if stats.active_faults >= limit:
            stats.faults_overflow += 1
            return False
        stats.active_faults += 1
        self.active = True
        return True

    def _percent_enabled(self, snapshot, key, cluster_key, percentage):
        """Envoy's isDelayEnabled / isAbortEnabled: the filter's key, or the downstream
        cluster's, draws the request in."""
        factory, percents = self.factory, snapshot.percents
        enabled = factory.runtime_enabled(percents, key, percentage)
        if cluster_key is not None:
            enabled |= factory.runtime_enabled(percents, cluster_key, percentage)
        return enabled

    def _delay_ms(self, headers, snapshot, cluster):
        delay = self.settings.delay
        if delay is None:
            return 0
        config = self.settings.config
        percentage = delay.percentage
        if delay.fixed_delay is None:
            percentage = _header_percentage(headers, DELAY_PERCENTAGE_HEADER, percentage)
        cluster_key = None if cluster is None else f"fault.http.{cluster}.delay.fixed_delay_percent"
        if not self._percent_enabled(snapshot, config.delay_percent_runtime, cluster_key,
                                     percentage):
            return 0
        if delay.fixed_delay is not None:
            duration = int(delay.fixed_delay * 1000)
        else:
            duration = _header_number(headers, DELAY_HEADER)
            if duration is None:
                return 0
        integers = snapshot.integers
        duration = integers.get(config.delay_duration_runtime, duration)
        if cluster is not None:
            duration = integers.get(f"fault.http.{cluster}.delay.fixed_duration_ms", duration)
        return duration if duration > 0 else 0

    def _abort_status(self, headers, snapshot, cluster):
        abort = self.settings.abort
        if abort is None:
            return None
        config = self.settings.config
        percentage = abort.percentage
        if abort.http_status is None:
            percentage = _header_percentage(headers, ABORT_PERCENTAGE_HEADER, percentage)
        cluster_key = None if cluster is None else f"fault.http.{cluster}.abort.abort_percent"
        if not self._percent_enabled(snapshot, config.abort_percent_runtime, cluster_key,
                                     percentage):
            return None
        status = abort.http_status
        if status is None:
            status = _header_number(headers, ABORT_HEADER)
            if status is None or not 200 <= status < 600:
                return None
        integers = snapshot.integers
        # As Envoy: the downstream cluster's key falls back to the configured status, not to
        # the filter's key. A runtime status outside [200, 600) is ignored.
        key = (config.abort_http_status_runtime if cluster is None
               else f"fault.http.{cluster}.abort.http_status")
        runtime_status = integers.get(key, status)
        return runtime_status if 200 <= runtime_status < 600 else status

    def _setup_rate_limit(self, headers, snapshot):
        limit = self.settings.rate_limit
        if limit.limit_kbps is not None:
            kbps, percentage = limit.limit_kbps, limit.percentage
        else:
            kbps = _header_number(headers, THROUGHPUT_HEADER)
            percentage = _header_percentage(headers, THROUGHPUT_PERCENTAGE_HEADER, limit.percentage)
            if not kbps:
                return
        key = self.settings.config.response_rate_limit_percent_runtime
        if (not self.factory.runtime_enabled(snapshot.percents, key, percentage)
                or not self._activate(snapshot)):
            return
        self.factory.stats.response_rl_injected += 1
        self.pacer = Pacer(kbps * 1024, self.factory.clock)


class Pacer:
    """When each piece of the response body may go at ``rate`` bytes a second: the bytes sent
    so far may not run ahead of the rate, beyond a first slice of 1/16 s worth."""

    __slots__ = ("rate", "free", "sent", "start", "clock")

    def __init__(self, rate, clock):
        self.rate = rate
        self.free = rate / SLICES_A_SECOND
        self.sent = 0
        self.start = None
        self.clock = clock

    def wait_for(self, size):
        now = self.clock()
        if self.start is None:
            self.start = now
        self.sent += size
        due = self.start + max(self.sent - self.free, 0) / self.rate
        return due - now


def _header_number(headers, name):
    """The header's value as Envoy's absl::SimpleAtoi reads a uint64, or None."""
    value = header_value(headers, name)
    if value is None:
        return None
    text = value.strip()
    if text.startswith(b"+"):
        text = text[1:]
    if not text.isdigit() or len(text) > 20:
        return None
    number = int(text)
    return number if number < 2**64 else None


def _header_percentage(headers, name, configured):
    """A header-controlled fault's percentage: the header's numerator when it is lower than
    the configured one, over the configured denominator."""
    numerator = _header_number(headers, name)
    if numerator is None or numerator > 2**32 - 1:
        return configured
    return min(numerator, configured[0]), configured[1]
