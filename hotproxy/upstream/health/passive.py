"""Passive health checking: a proxied response that says ``x-envoy-immediate-health-check-fail``
(an upstream Envoy or hotproxy whose health_check filter is failing) takes its host out at once,
on clusters with active health checks, as Envoy's router does (HealthCheckHostMonitor,
ImmediateHealthCheckFail).

The worker reports it to the arbiter with the cluster's outcomes (IMMEDIATE_HC_FAIL in
outlier/outcomes.py); there the cluster's checker fails the host (PASSIVE, not retriable),
flags it ``/excluded_via_immediate_hc_fail`` and pushes the change to every worker. The host
comes back when its active checks pass healthy_threshold times.

The router calls ``report_immediate_fail`` for each upstream response head of a cluster whose
``health_reporter`` is not None; other clusters pay that one attribute test.
"""
from __future__ import annotations

from ..outlier.outcomes import IMMEDIATE_HC_FAIL

HEADER = b"x-envoy-immediate-health-check-fail"


def report_immediate_fail(cluster, host, headers) -> bool:
    """If ``headers`` (a response head's ``[(name, value)]``, names lower-case bytes) carry
    x-envoy-immediate-health-check-fail, report ``host`` of ``cluster``; True when reported."""
    reporter = cluster.health_reporter
    if reporter is None:
        return False
    for name, _value in headers:
        if name == HEADER:
            reporter.record(host, IMMEDIATE_HC_FAIL)
            return True
    return False


def immediate_fail(cluster, host) -> None:
    """Report ``host`` of ``cluster`` as having answered x-envoy-immediate-health-check-fail."""
    reporter = cluster.health_reporter
    if reporter is not None:
        reporter.record(host, IMMEDIATE_HC_FAIL)
