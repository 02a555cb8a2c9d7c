"""slow_start_config of round_robin_lb_config and least_request_lb_config."""
from config_helpers import CLUSTER, parse_with, problems_of, edited

from hotproxy.config.cluster import SlowStart


def test_round_robin_slow_start_takes_envoys_defaults():
    cluster = parse_with({f"{CLUSTER}.round_robin_lb_config": {
        "slow_start_config": {"slow_start_window": "30s"}}}).clusters[0]
    assert cluster.slow_start == SlowStart(window=30.0, aggression=1.0, min_weight_percent=10.0)


def test_least_request_slow_start_reads_every_field():
    cluster = parse_with({f"{CLUSTER}.lb_policy": "LEAST_REQUEST", f"{CLUSTER}.least_request_lb_config": {
        "slow_start_config": {"slow_start_window": "2.5s",
                              "aggression": {"default_value": 2.0, "runtime_key": "ss.aggr"},
                              "min_weight_percent": {"value": 25}}}}).clusters[0]
    assert cluster.slow_start == SlowStart(window=2.5, aggression=2.0, min_weight_percent=25.0)


def test_no_window_is_no_slow_start():
    cluster = parse_with({f"{CLUSTER}.round_robin_lb_config": {"slow_start_config": {}}}).clusters[0]
    assert cluster.slow_start is None
    assert parse_with({}).clusters[0].slow_start is None


def test_a_config_of_another_policy_is_not_applied():
    cluster = parse_with({f"{CLUSTER}.lb_policy": "RANDOM", f"{CLUSTER}.round_robin_lb_config": {
        "slow_start_config": {"slow_start_window": "30s"}}}).clusters[0]
    assert cluster.slow_start is None


def test_min_weight_percent_is_bounded():
    problems = problems_of(edited({f"{CLUSTER}.round_robin_lb_config": {"slow_start_config": {
        "slow_start_window": "1s", "min_weight_percent": {"value": 120}}}}))
    assert any(path.endswith("slow_start_config.min_weight_percent.value") for path, _ in problems), problems


def test_aggression_needs_no_runtime_key_and_any_value_is_accepted_as_envoy_does():
    cluster = parse_with({f"{CLUSTER}.round_robin_lb_config": {"slow_start_config": {
        "slow_start_window": "1s", "aggression": {"default_value": -1}}}}).clusters[0]
    assert cluster.slow_start.aggression == -1      # counted as 1.0 when weighing (lb/slow_start.py)
