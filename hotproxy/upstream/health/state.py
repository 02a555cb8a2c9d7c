"""One host's active health state, as Envoy's ActiveHealthCheckSession keeps it.

A host starts failed ("/failed_active_hc") and its first check decides at once: a pass makes it
healthy whatever ``healthy_threshold`` says, as Envoy does to start up fast. After that a healthy
host becomes unhealthy after ``unhealthy_threshold`` network failures (refused, reset, timed
out) in a row, or at once on an ACTIVE failure (an HTTP status outside expected_statuses); an
unhealthy host becomes healthy after ``healthy_threshold`` passes in a row. Thresholds of 0 are
never reached by counting (Envoy compares after incrementing). A PASSIVE failure (a proxied
response said x-envoy-immediate-health-check-fail) fails and excludes the host at once.
"""
from __future__ import annotations

from dataclasses import dataclass

NETWORK, ACTIVE, PASSIVE = "NETWORK", "ACTIVE", "PASSIVE"
UNCHANGED, CHANGED, CHANGE_PENDING = "unchanged", "changed", "change_pending"


@dataclass(frozen=True)
class Event:
    """What the event log records: ``kind`` is add_healthy, eject_unhealthy or
    health_check_failure."""
    kind: str
    first_check: bool = False
    failure_type: str = ""
    http_status: int = 0


class HostHealth:
    __slots__ = ("unhealthy_threshold", "healthy_threshold", "always_log_failures", "failed",
                 "excluded", "first_check", "num_healthy", "num_unhealthy")

    def __init__(self, unhealthy_threshold, healthy_threshold, always_log_failures=False,
                 failed=True):
        self.unhealthy_threshold = unhealthy_threshold
        self.healthy_threshold = healthy_threshold
        self.always_log_failures = always_log_failures
        #: FAILED_ACTIVE_HC; ``failed=False`` with ``first_check`` False resumes a known healthy host
        self.failed = failed
        #: EXCLUDED_VIA_IMMEDIATE_HC_FAIL: the last failing response said
        #: x-envoy-immediate-health-check-fail
        self.excluded = False
        self.first_check = True
        self.num_healthy = 0
        self.num_unhealthy = 0

    @property
    def healthy(self) -> bool:
        return not self.failed

    @property
    def flags(self) -> str:
        """``health_flags`` as /clusters prints them."""
        if not self.failed and not self.excluded:
            return "healthy"
        return "/failed_active_hc" * self.failed + "/excluded_via_immediate_hc_fail" * self.excluded

    def resume(self, healthy: bool, excluded: bool = False) -> None:
        """Carry a state over from a previous checker (reload, hot restart): no first check."""
        self.failed = not healthy
        self.excluded = excluded
        self.first_check = False

    def passed(self) -> tuple[str, list[Event]]:
        """A check passed: (transition, events to log)."""
        self.num_unhealthy = 0
        transition = UNCHANGED
        events = []
        if self.failed:
            self.num_healthy += 1
            if self.first_check or self.num_healthy == self.healthy_threshold:
                self.failed = False
                self.excluded = False
                transition = CHANGED
                events.append(Event("add_healthy", first_check=self.first_check))
            else:
                transition = CHANGE_PENDING
        self.first_check = False
        return transition, events

    def failed_check(self, failure_type: str, http_status: int = 0,
                     immediate_fail: bool = False) -> tuple[str, list[Event]]:
        """A check failed with ``failure_type`` NETWORK, ACTIVE or PASSIVE: (transition, events).
        ``immediate_fail``: the response carried x-envoy-immediate-health-check-fail."""
        self.num_healthy = 0
        if immediate_fail:
            self.excluded = True
        transition = UNCHANGED
        events = []
        if not self.failed:
            self.num_unhealthy += 1
            if failure_type != NETWORK or self.num_unhealthy == self.unhealthy_threshold:
                self.failed = True
                transition = CHANGED
                events.append(Event("eject_unhealthy", failure_type=failure_type,
                                    http_status=http_status))
            else:
                transition = CHANGE_PENDING
        if self.first_check or self.always_log_failures:
            events.append(Event("health_check_failure", first_check=self.first_check,
                                failure_type=failure_type, http_status=http_status))
        self.first_check = False
        return transition, events
