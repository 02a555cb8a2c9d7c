"""Outlier detection (envoy.config.cluster.v3.OutlierDetection) as a frozen dataclass; the
defaults are Envoy's. Durations in seconds, percentages 0-100, ``success_rate_stdev_factor`` in
thousandths as in the proto (1900 → 1.9)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutlierDetection:
    consecutive_5xx: int = 5
    consecutive_gateway_failure: int = 5
    consecutive_local_origin_failure: int = 5
    split_external_local_origin_errors: bool = False
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_time_jitter: float = 0.0
    max_ejection_percent: int = 10
    enforcing_consecutive_5xx: int = 100
    enforcing_consecutive_gateway_failure: int = 0
    enforcing_consecutive_local_origin_failure: int = 100
    enforcing_success_rate: int = 100
    enforcing_local_origin_success_rate: int = 100
    enforcing_failure_percentage: int = 0
    enforcing_failure_percentage_local_origin: int = 0
    success_rate_minimum_hosts: int = 5
    success_rate_request_volume: int = 100
    success_rate_stdev_factor: int = 1900
    failure_percentage_threshold: int = 85
    failure_percentage_minimum_hosts: int = 5
    failure_percentage_request_volume: int = 50
    #: with active health checks: a passing check brings an ejected host back at once
    successful_active_health_check_uneject_host: bool = True
