"""A cluster's circuit_breakers: the DEFAULT threshold's limits, retry budget and track_remaining."""
import pytest

from hotproxy.config.cluster import RetryBudget

from config_helpers import CLUSTER, Rejected, ids, parse_with

BREAKERS = f"{CLUSTER}.circuit_breakers"


def test_limits_parse_with_envoys_defaults_for_the_rest():
    cluster = parse_with({BREAKERS: {"thresholds": [{"max_connections": 7, "max_retries": 1,
                                                     "track_remaining": True}]}}).clusters[0]
    assert (cluster.max_connections, cluster.max_pending_requests, cluster.max_requests,
            cluster.max_retries, cluster.track_remaining, cluster.retry_budget) == (7, 1024, 1024, 1, True, None)


def test_a_retry_budget_has_envoys_defaults():
    cluster = parse_with({BREAKERS: {"thresholds": [{"retry_budget": {}}]}}).clusters[0]
    assert cluster.retry_budget == RetryBudget(20.0, 3)
    cluster = parse_with({BREAKERS: {"thresholds": [{"retry_budget": {
        "budget_percent": {"value": 12.5}, "min_retry_concurrency": 1}}]}}).clusters[0]
    assert cluster.retry_budget == RetryBudget(12.5, 1)


REJECTED = [
    Rejected({BREAKERS: {"thresholds": [{"retry_budget": {"budget_percent": {"value": 101}}}]}},
             f"{BREAKERS}.thresholds[0].retry_budget.budget_percent.value", "must be between 0 and 100"),
    Rejected({BREAKERS: {"thresholds": [{"max_connection_pools": 1}]}},
             f"{BREAKERS}.thresholds[0].max_connection_pools", "not supported by hotproxy yet"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
