"""One host as outlier detection follows it (Envoy's DetectorHostMonitorImpl)."""
from __future__ import annotations


class SuccessRateBuckets:
    """Requests and successes of the interval being counted, and of the last complete one (which
    the interval's success-rate and failure-percentage detection reads)."""

    __slots__ = ("total", "success", "last_total", "last_success")

    def __init__(self):
        self.total = self.success = self.last_total = self.last_success = 0

    def swap(self):
        self.last_total, self.last_success = self.total, self.success
        self.total = self.success = 0

    def rate_and_volume(self):
        """(success rate in percent, requests) of the last interval, None without requests."""
        if not self.last_total:
            return None
        return self.last_success * 100.0 / self.last_total, self.last_total


class HostMonitor:
    __slots__ = ("address", "consecutive_5xx", "consecutive_gateway_failure",
                 "consecutive_local_origin_failure", "external", "local", "ejected", "ejected_at",
                 "unejected_at", "backoff", "jitter", "num_ejections", "success_rate",
                 "local_origin_success_rate")

    def __init__(self, address):
        self.address = address
        self.consecutive_5xx = self.consecutive_gateway_failure = 0
        self.consecutive_local_origin_failure = 0
        self.external = SuccessRateBuckets()
        self.local = SuccessRateBuckets()
        self.ejected = False
        self.ejected_at = None
        self.unejected_at = None
        #: the ejection time multiplier: base_ejection_time × backoff, up to max_ejection_time
        self.backoff = 0
        self.jitter = 0.0
        self.num_ejections = 0
        #: what /clusters shows: the last interval's rate, -1 below the request volume
        self.success_rate = -1.0
        self.local_origin_success_rate = -1.0

    def reset_consecutive(self):
        self.consecutive_5xx = self.consecutive_gateway_failure = 0
        self.consecutive_local_origin_failure = 0
