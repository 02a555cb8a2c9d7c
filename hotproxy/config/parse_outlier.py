"""Parser for a cluster's ``outlier_detection`` into outlier.py's dataclass, with Envoy's
validation (durations above zero, percentages at most 100)."""
from __future__ import annotations

from .fields import Fields, Node, present
from .outlier import OutlierDetection

COUNTS = ("consecutive_5xx consecutive_gateway_failure consecutive_local_origin_failure "
          "success_rate_minimum_hosts success_rate_request_volume success_rate_stdev_factor "
          "failure_percentage_minimum_hosts failure_percentage_request_volume").split()
PERCENTS = ("max_ejection_percent enforcing_consecutive_5xx enforcing_consecutive_gateway_failure "
            "enforcing_consecutive_local_origin_failure enforcing_success_rate "
            "enforcing_local_origin_success_rate enforcing_failure_percentage "
            "enforcing_failure_percentage_local_origin failure_percentage_threshold").split()
POSITIVE_DURATIONS = ("interval", "base_ejection_time", "max_ejection_time")
OUTLIER_DETECTION = Fields(
    " ".join(COUNTS + PERCENTS + list(POSITIVE_DURATIONS))
    + " split_external_local_origin_errors max_ejection_time_jitter"
    + " successful_active_health_check_uneject_host",
    unsupported="monitors always_eject_one_host "
                "detect_degraded_hosts")


def outlier_detection(node: Node) -> OutlierDetection | None:
    m = node.message(OUTLIER_DETECTION)
    if m is None:
        return None
    values = {name: m.uint32(name) for name in COUNTS}
    values.update({name: m.uint32(name, maximum=100) for name in PERCENTS})
    for name in POSITIVE_DURATIONS:
        value = values[name] = m.duration(name)
        if value is not None and value <= 0:
            m.at(name).fail("must be greater than 0s")
    values["max_ejection_time_jitter"] = m.duration("max_ejection_time_jitter")
    values["split_external_local_origin_errors"] = m.boolean("split_external_local_origin_errors")
    values["successful_active_health_check_uneject_host"] = m.boolean(
        "successful_active_health_check_uneject_host")
    return OutlierDetection(**present(**values))
