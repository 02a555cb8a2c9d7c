"""Envoy's outlier DetectorImpl (source/common/upstream/outlier_detection_impl.cc), without I/O:
the arbiter feeds it every worker's outcomes (``record``) and calls ``tick`` every ``interval``;
both return True when the set of ejected hosts changed.

- Consecutive detectors fire when a host's counter reaches its threshold exactly (the counter is
  reset by the detection, so 2N failures in a row fire twice). consecutive_5xx counts every 5xx,
  consecutive_gateway_failure 502/503/504. Without split_external_local_origin_errors a local
  event counts as Envoy's resultToHttpCode maps it: connect failure 503, timeout 504, TCP
  connect success 200. With it, local events feed consecutive_local_origin_failure and the
  local-origin success rate instead, and a response status counts as a local success.
- With active health checks and successful_active_health_check_uneject_host, a passing check of
  a host that is healthy brings it back at once (``health_check_passed``).
- Every ``tick``: ejected hosts whose time is up come back (base_ejection_time × backoff, at most
  max_ejection_time, plus jitter); a host back for a base_ejection_time loses one step of
  backoff per tick; then success rate (mean - stdev_factor × stdev over hosts with enough
  requests in the last interval) and failure percentage are judged.
- An ejection is "detected" first; it is refused (``ejections_overflow``) when it would take
  the ejected share above max_ejection_percent, and enforced only with its enforcing_* chance.
"""
from __future__ import annotations

import math
import random as _random

from .monitor import HostMonitor
from .outcomes import CONNECT_FAILURE, IMMEDIATE_HC_FAIL, SUCCESS, TIMEOUT

CONSECUTIVE_5XX = "consecutive_5xx"
CONSECUTIVE_GATEWAY_FAILURE = "consecutive_gateway_failure"
CONSECUTIVE_LOCAL_ORIGIN_FAILURE = "consecutive_local_origin_failure"
SUCCESS_RATE = "success_rate"
LOCAL_ORIGIN_SUCCESS_RATE = "local_origin_success_rate"
FAILURE_PERCENTAGE = "failure_percentage"
LOCAL_ORIGIN_FAILURE_PERCENTAGE = "local_origin_failure_percentage"
TYPES = (CONSECUTIVE_5XX, CONSECUTIVE_GATEWAY_FAILURE, CONSECUTIVE_LOCAL_ORIGIN_FAILURE, SUCCESS_RATE,
         LOCAL_ORIGIN_SUCCESS_RATE, FAILURE_PERCENTAGE, LOCAL_ORIGIN_FAILURE_PERCENTAGE)
#: the config field that sets each type's enforcing chance
ENFORCING = {CONSECUTIVE_5XX: "enforcing_consecutive_5xx",
             CONSECUTIVE_GATEWAY_FAILURE: "enforcing_consecutive_gateway_failure",
             CONSECUTIVE_LOCAL_ORIGIN_FAILURE: "enforcing_consecutive_local_origin_failure",
             SUCCESS_RATE: "enforcing_success_rate",
             LOCAL_ORIGIN_SUCCESS_RATE: "enforcing_local_origin_success_rate",
             FAILURE_PERCENTAGE: "enforcing_failure_percentage",
             LOCAL_ORIGIN_FAILURE_PERCENTAGE: "enforcing_failure_percentage_local_origin"}
#: counters, as Envoy names them under cluster.<name>.outlier_detection. (three are deprecated
#: names Envoy still reports)
COUNTERS = (("ejections_enforced_total", "ejections_overflow", "ejections_total",
             "ejections_consecutive_5xx", "ejections_success_rate", "ejections_detected_degradation")
            + tuple(f"ejections_{kind}_{name}" for name in TYPES for kind in ("enforced", "detected")))
_LOCAL_AS_STATUS = {CONNECT_FAILURE: 503, TIMEOUT: 504, SUCCESS: 200}
_GATEWAY_ERRORS = (502, 503, 504)


class OutlierDetector:
    def __init__(self, config, rng=None):
        self.config = config
        self.hosts = {}              # (ip, port) → HostMonitor
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.ejections_active = 0
        #: /clusters: (mean, ejection threshold) of the last interval, -1 when not computed
        self.success_rate_numbers = (-1.0, -1.0)
        self.local_origin_success_rate_numbers = (-1.0, -1.0)
        self._random = (rng or _random).random
        self._changed = False

    # membership

    def set_hosts(self, addresses):
        """The cluster's hosts now: new ones start clean, gone ones are forgotten."""
        wanted = {tuple(address) for address in addresses}
        for address in list(self.hosts):
            if address not in wanted:
                if self.hosts.pop(address).ejected:
                    self.ejections_active -= 1
        for address in wanted:
            if address not in self.hosts:
                self.hosts[address] = HostMonitor(address)

    def ejected(self):
        return [address for address, monitor in self.hosts.items() if monitor.ejected]

    # outcomes

    def record(self, address, code, now) -> bool:
        """One attempt's outcome (outcomes.py's code) for the host at ``address``."""
        monitor = self.hosts.get(address)
        if monitor is None or code == IMMEDIATE_HC_FAIL:   # that one is for the health checker
            return False
        self._changed = False
        if self.config.split_external_local_origin_errors:
            if code >= 0:
                self._http(monitor, code, now)
                self._local_success(monitor)
            elif code == SUCCESS:
                self._local_success(monitor)
            else:
                self._local_failure(monitor, now)
        else:
            self._http(monitor, code if code >= 0 else _LOCAL_AS_STATUS[code], now)
        return self._changed

    def _http(self, monitor, status, now):
        config = self.config
        buckets = monitor.external
        buckets.total += 1
        if 500 <= status < 600:
            if status in _GATEWAY_ERRORS:
                monitor.consecutive_gateway_failure += 1
                if monitor.consecutive_gateway_failure == config.consecutive_gateway_failure:
                    self._consecutive(monitor, CONSECUTIVE_GATEWAY_FAILURE, now)
            else:
                monitor.consecutive_gateway_failure = 0
            monitor.consecutive_5xx += 1
            if monitor.consecutive_5xx == config.consecutive_5xx:
                self._consecutive(monitor, CONSECUTIVE_5XX, now)
        else:
            buckets.success += 1
            monitor.consecutive_5xx = monitor.consecutive_gateway_failure = 0

    @staticmethod
    def _local_success(monitor):
        monitor.local.total += 1
        monitor.local.success += 1
        monitor.consecutive_local_origin_failure = 0

    def _local_failure(self, monitor, now):
        monitor.local.total += 1
        monitor.consecutive_local_origin_failure += 1
        if monitor.consecutive_local_origin_failure == self.config.consecutive_local_origin_failure:
            self._consecutive(monitor, CONSECUTIVE_LOCAL_ORIGIN_FAILURE, now)

    def _consecutive(self, monitor, kind, now):
        if monitor.ejected:
            return
        self._count(f"ejections_detected_{kind}")
        if kind == CONSECUTIVE_5XX:
            self._count("ejections_consecutive_5xx")
        self._eject(monitor, kind, now)
        # the detection resets its counter, so that a further run of N fires again
        setattr(monitor, kind, 0)

    # ejection

    def _eject(self, monitor, kind, now):
        config = self.config
        if not self.hosts or 100.0 * (self.ejections_active + 1) / len(self.hosts) > min(
                100, config.max_ejection_percent):
            self._count("ejections_overflow")
            return
        if self._random() * 100 >= getattr(config, ENFORCING[kind]):
            return
        self.ejections_active += 1
        self._count("ejections_enforced_total")
        self._count("ejections_total")
        self._count(f"ejections_enforced_{kind}")
        base, maximum = config.base_ejection_time, config.max_ejection_time
        if monitor.backoff * base < maximum + base:
            monitor.backoff += 1
        monitor.ejected = True
        monitor.ejected_at = now
        monitor.num_ejections += 1
        monitor.jitter = self._random() * config.max_ejection_time_jitter
        self._changed = True

    def ejection_time(self, monitor) -> float:
        config = self.config
        return min(config.base_ejection_time * monitor.backoff, config.max_ejection_time) + monitor.jitter

    def _count(self, name):
        self.counters[name] += 1

    # the interval

    def tick(self, now) -> bool:
        self._changed = False
        config = self.config
        for monitor in self.hosts.values():
            self._check_uneject(monitor, now)
            monitor.external.swap()
            monitor.local.swap()
            monitor.success_rate = _shown_rate(monitor.external, config.success_rate_request_volume)
            monitor.local_origin_success_rate = _shown_rate(monitor.local, config.success_rate_request_volume)
        self.success_rate_numbers = self._judge_success_rates(
            "external", SUCCESS_RATE, FAILURE_PERCENTAGE, now)
        if config.split_external_local_origin_errors:
            self.local_origin_success_rate_numbers = self._judge_success_rates(
                "local", LOCAL_ORIGIN_SUCCESS_RATE, LOCAL_ORIGIN_FAILURE_PERCENTAGE, now)
        return self._changed

    def _check_uneject(self, monitor, now):
        base = self.config.base_ejection_time
        if not monitor.ejected:
            if monitor.unejected_at is not None and now - monitor.unejected_at >= base and monitor.backoff:
                monitor.backoff -= 1
            return
        if self.ejection_time(monitor) <= now - monitor.ejected_at:
            self._uneject(monitor, now)

    def health_check_passed(self, address, now) -> bool:
        """An active health check found the host at ``address`` healthy: an ejected host comes
        back at once (successful_active_health_check_uneject_host, checked by the caller), as
        Envoy's unejectHost after a check: its counters reset, its backoff kept."""
        monitor = self.hosts.get(address)
        if monitor is None or not monitor.ejected:
            return False
        self._uneject(monitor, now)
        return True

    def _uneject(self, monitor, now):
        self.ejections_active -= 1
        monitor.ejected = False
        monitor.reset_consecutive()
        monitor.unejected_at = now
        self._changed = True

    def _judge_success_rates(self, origin, rate_kind, percentage_kind, now):
        config = self.config
        count = len(self.hosts)
        if count < config.success_rate_minimum_hosts and count < config.failure_percentage_minimum_hosts:
            return (-1.0, -1.0)
        by_rate, by_percentage = [], []
        for monitor in self.hosts.values():
            if monitor.ejected:
                continue
            measured = getattr(monitor, origin).rate_and_volume()
            if measured is None:
                continue
            rate, volume = measured
            if volume >= max(config.success_rate_request_volume, 1):
                by_rate.append((monitor, rate))
            if volume >= max(config.failure_percentage_request_volume, 1):
                by_percentage.append((monitor, rate))
        numbers = (-1.0, -1.0)
        if by_rate and len(by_rate) >= config.success_rate_minimum_hosts:
            numbers = success_rate_threshold([rate for _, rate in by_rate],
                                             config.success_rate_stdev_factor / 1000.0)
            for monitor, rate in by_rate:
                if rate < numbers[1]:
                    self._detect_by_rate(monitor, rate_kind, now)
        if by_percentage and len(by_percentage) >= config.failure_percentage_minimum_hosts:
            for monitor, rate in by_percentage:
                if 100.0 - rate >= config.failure_percentage_threshold and not monitor.ejected:
                    self._detect_by_rate(monitor, percentage_kind, now)
        return numbers

    def _detect_by_rate(self, monitor, kind, now):
        self._count(f"ejections_detected_{kind}")
        if kind == SUCCESS_RATE:
            self._count("ejections_success_rate")
        self._eject(monitor, kind, now)


def success_rate_threshold(rates, stdev_factor):
    """(mean, ejection threshold): hosts below mean - stdev_factor × stdev are outliers."""
    mean = sum(rates) / len(rates)
    variance = sum((rate - mean) ** 2 for rate in rates) / len(rates)
    return mean, mean - stdev_factor * math.sqrt(variance)


def _shown_rate(buckets, volume):
    measured = buckets.rate_and_volume()
    if measured is None or measured[1] < volume:
        return -1.0
    return measured[0]
