"""Route priority HIGH (issue 17), the config side: RouteAction.priority and the HIGH
circuit_breakers thresholds, as Envoy 1.40 reads them."""
import pytest

from hotproxy.config.cluster import Cluster as ClusterConfig, RetryBudget, Thresholds

from config_helpers import CLUSTER, ROUTE, Rejected, ids, parse_with

BREAKERS = f"{CLUSTER}.circuit_breakers"


def cluster_config(thresholds):
    return parse_with({BREAKERS: {"thresholds": thresholds}}).clusters[0]


def test_a_high_threshold_parses_beside_the_default_one():
    config = cluster_config([{"max_connections": 3, "max_requests": 4},
                             {"priority": "HIGH", "max_connections": 7, "max_requests": 5,
                              "max_retries": 1, "track_remaining": True,
                              "retry_budget": {"budget_percent": {"value": 50}}}])
    assert (config.max_connections, config.max_requests, config.breakers_configured) == (3, 4, True)
    assert config.high_thresholds == Thresholds(7, 1024, 5, 1, RetryBudget(50.0, 3), True, True)


def test_the_first_threshold_of_a_priority_wins_as_in_envoy():
    """Envoy 1.40 (probed): HIGH 7 then HIGH 9 gives high_priority max_connections 7."""
    config = cluster_config([{"priority": "HIGH", "max_connections": 7},
                             {"priority": "HIGH", "max_connections": 9},
                             {"priority": "DEFAULT", "max_connections": 2},
                             {"max_connections": 5}])
    assert config.high_thresholds.max_connections == 7
    assert config.max_connections == 2


def test_only_a_high_threshold_leaves_default_with_envoys_defaults():
    config = cluster_config([{"priority": "HIGH", "max_requests": 1}])
    assert (config.max_requests, config.breakers_configured) == (1024, False)
    assert config.high_thresholds.breakers_configured
    assert ClusterConfig(name="c").high_thresholds == Thresholds()


def route_priority(value):
    edits = {f"{ROUTE}.route.priority": value} if value is not None else {}
    route_config = parse_with(edits).listeners[0].filter_chains[0].filters[0].route_config
    return route_config.virtual_hosts[0].routes[0].route.priority


def test_route_priority_compiles_into_the_route_action():
    assert route_priority(None) == "DEFAULT"
    assert route_priority("HIGH") == "HIGH"
    assert route_priority("default") == "DEFAULT"


REJECTED = [
    Rejected({f"{ROUTE}.route.priority": "URGENT"}, f"{ROUTE}.route.priority",
             "unknown enum value 'URGENT' (expected one of DEFAULT, HIGH)"),
    Rejected({BREAKERS: {"thresholds": [{}, {"priority": "HIGH", "max_connection_pools": 1}]}},
             f"{BREAKERS}.thresholds[1].max_connection_pools", "not supported by hotproxy yet"),
    Rejected({BREAKERS: {"thresholds": [{"priority": "HIGH", "max_requests": -1}]}},
             f"{BREAKERS}.thresholds[0].max_requests", "must be between 0 and 4294967295"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
