"""The RouteConfiguration fields istiod sets: validate_clusters,
max_direct_response_body_size_bytes, ignore_port_in_host_matching, and a route's
max_stream_duration of 0s (no limit)."""
import pytest

from hotproxy.config import parse_bootstrap
from hotproxy.config.resources import parse_resource
from hotproxy.errors import ConfigError

from config_helpers import ROUTE, ROUTE_CONFIG, Rejected, parse_with, problems_of, edited


def route_config(bootstrap):
    return bootstrap.listeners[0].filter_chains[0].filters[0].route_config


def test_ignore_port_in_host_matching_is_read():
    assert route_config(parse_with({})).ignore_port_in_host_matching is False
    config = route_config(parse_with({f"{ROUTE_CONFIG}.ignore_port_in_host_matching": True}))
    assert config.ignore_port_in_host_matching is True


def test_inline_routes_validate_clusters_unless_told_not_to():
    unknown = {f"{ROUTE}.route.cluster": "nowhere"}
    assert (f"{ROUTE}.route.cluster", "cluster 'nowhere' is not defined in static_resources.clusters") \
        in problems_of(edited(unknown))
    assert (f"{ROUTE}.route.cluster", "cluster 'nowhere' is not defined in static_resources.clusters") \
        in problems_of(edited({**unknown, f"{ROUTE_CONFIG}.validate_clusters": True}))
    config = route_config(parse_with({**unknown, f"{ROUTE_CONFIG}.validate_clusters": False}))
    assert config.validate_clusters is False
    assert config.virtual_hosts[0].routes[0].route.cluster == "nowhere"


BODY = f"{ROUTE}.direct_response"


def test_max_direct_response_body_size_bytes_raises_and_lowers_the_limit():
    big = {BODY: {"status": 200, "body": {"inline_string": "x" * 10000}}}
    tree = edited({**big, f"{ROUTE_CONFIG}.max_direct_response_body_size_bytes": 1048576})
    del tree["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    action = route_config(parse_bootstrap(tree)).virtual_hosts[0].routes[0].direct_response
    assert action.body == b"x" * 10000
    tree["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"]["max_direct_response_body_size_bytes"] = 100
    assert (f"{BODY}.body", "the body is 10000 bytes; max_direct_response_body_size_bytes is 100") \
        in problems_of(tree)


REJECTED = [
    Rejected({f"{ROUTE_CONFIG}.validate_clusters": [1]}, f"{ROUTE_CONFIG}.validate_clusters",
             ""),
    Rejected({f"{ROUTE_CONFIG}.max_direct_response_body_size_bytes": -1},
             f"{ROUTE_CONFIG}.max_direct_response_body_size_bytes", ""),
]


@pytest.mark.parametrize("case", REJECTED, ids=lambda case: case.at.rsplit(".", 1)[-1])
def test_rejected(case):
    case.check()


def test_istiods_route_configuration_parses_from_rds():
    """RDS: validate_clusters defaults to false (an unknown cluster is a 503 per request)."""
    body = {"name": "9080", "validate_clusters": False, "max_direct_response_body_size_bytes": 1048576,
            "ignore_port_in_host_matching": True, "virtual_hosts": [{
                "name": "reviews:9080", "domains": ["reviews"], "routes": [{
                    "match": {"prefix": "/"},
                    "route": {"cluster": "outbound|9080||reviews", "timeout": "0s",
                              "max_stream_duration": {"max_stream_duration": "0s",
                                                      "grpc_timeout_header_max": "0s"},
                              "retry_policy": {"retry_on": "connect-failure,unavailable,cancelled"}}}]}]}
    parsed, unknown = parse_resource("routes", body)
    assert unknown == [] and parsed.ignore_port_in_host_matching
    assert parsed.virtual_hosts[0].routes[0].route.retry_policy.retry_on == (
        "connect-failure", "unavailable", "cancelled")
    with pytest.raises(ConfigError) as info:
        parse_resource("routes", {**body, "max_direct_response_body_size_bytes": "many"})
    assert info.value.problems[0][0] == "max_direct_response_body_size_bytes"
