"""A cluster's outlier_detection: Envoy's defaults, every field, Envoy's bounds, what stays refused."""
import pytest

from hotproxy.config.outlier import OutlierDetection

from config_helpers import CLUSTER, Rejected, ids, parse_with

NOT_SUPPORTED = "not supported by hotproxy yet"
OUTLIER = f"{CLUSTER}.outlier_detection"


def test_an_empty_outlier_detection_has_envoys_defaults():
    cluster = parse_with({OUTLIER: {}}).clusters[0]
    assert cluster.outlier_detection == OutlierDetection()
    assert cluster.outlier_detection.consecutive_5xx == 5
    assert cluster.outlier_detection.interval == 10.0
    assert cluster.outlier_detection.max_ejection_percent == 10


def test_every_field_parses():
    cluster = parse_with({OUTLIER: {
        "consecutive_5xx": 3, "consecutive_gateway_failure": 4, "consecutive_local_origin_failure": 6,
        "split_external_local_origin_errors": True, "interval": "0.5s", "base_ejection_time": "2s",
        "max_ejection_time": "20s", "max_ejection_time_jitter": "1s", "max_ejection_percent": 50,
        "enforcing_consecutive_5xx": 90, "enforcing_consecutive_gateway_failure": 80,
        "enforcing_consecutive_local_origin_failure": 70, "enforcing_success_rate": 60,
        "enforcing_local_origin_success_rate": 50, "enforcing_failure_percentage": 40,
        "enforcing_failure_percentage_local_origin": 30, "success_rate_minimum_hosts": 2,
        "success_rate_request_volume": 10, "success_rate_stdev_factor": 1000,
        "failure_percentage_threshold": 75, "failure_percentage_minimum_hosts": 3,
        "failure_percentage_request_volume": 20}}).clusters[0]
    assert cluster.outlier_detection == OutlierDetection(
        consecutive_5xx=3, consecutive_gateway_failure=4, consecutive_local_origin_failure=6,
        split_external_local_origin_errors=True, interval=0.5, base_ejection_time=2.0,
        max_ejection_time=20.0, max_ejection_time_jitter=1.0, max_ejection_percent=50,
        enforcing_consecutive_5xx=90, enforcing_consecutive_gateway_failure=80,
        enforcing_consecutive_local_origin_failure=70, enforcing_success_rate=60,
        enforcing_local_origin_success_rate=50, enforcing_failure_percentage=40,
        enforcing_failure_percentage_local_origin=30, success_rate_minimum_hosts=2,
        success_rate_request_volume=10, success_rate_stdev_factor=1000,
        failure_percentage_threshold=75, failure_percentage_minimum_hosts=3,
        failure_percentage_request_volume=20)


def test_outlier_detection_beside_health_checks():
    """Both apply to the cluster, each with its own flag; a passing check un-ejects by default."""
    cluster = parse_with({OUTLIER: {}, f"{CLUSTER}.health_checks": [
        {"timeout": "1s", "interval": "1s", "unhealthy_threshold": 1, "healthy_threshold": 1,
         "tcp_health_check": {}}]}).clusters[0]
    assert cluster.health_checks and cluster.outlier_detection.successful_active_health_check_uneject_host
    off = parse_with({OUTLIER: {"successful_active_health_check_uneject_host": False}}).clusters[0]
    assert off.outlier_detection.successful_active_health_check_uneject_host is False


REJECTED = [
    Rejected({OUTLIER: {"interval": "0s"}}, f"{OUTLIER}.interval", "must be greater than 0s"),
    Rejected({OUTLIER: {"base_ejection_time": "0s"}}, f"{OUTLIER}.base_ejection_time",
             "must be greater than 0s"),
    Rejected({OUTLIER: {"max_ejection_percent": 101}}, f"{OUTLIER}.max_ejection_percent",
             "must be between 0 and 100"),
    Rejected({OUTLIER: {"enforcing_success_rate": 101}}, f"{OUTLIER}.enforcing_success_rate",
             "must be between 0 and 100"),
    Rejected({OUTLIER: {"monitors": []}}, f"{OUTLIER}.monitors", NOT_SUPPORTED),
    Rejected({OUTLIER: {"always_eject_one_host": True}}, f"{OUTLIER}.always_eject_one_host", NOT_SUPPORTED),
    Rejected({OUTLIER: {"detect_degraded_hosts": True}}, f"{OUTLIER}.detect_degraded_hosts", NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
