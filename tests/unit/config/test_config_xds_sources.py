"""ConfigSource, DynamicResources and the single-resource parsers xDS updates go through."""
import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_xds import config_source, dynamic_resources
from hotproxy.config.resources import parse_resource, without_unknown_fields
from hotproxy.config.xds import ApiConfigSource, ConfigSource
from hotproxy.errors import ConfigError

GRPC = {"api_type": "GRPC", "transport_api_version": "V3",
        "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}]}


def parsed(parse, tree):
    ctx = Context()
    result = parse(Node(tree, "x", ctx))
    return result, ctx.problems


@pytest.mark.parametrize("tree, expected", [
    ({"path_config_source": {"path": "/etc/lds.yaml", "watched_directory": {"path": "/etc"}}},
     ConfigSource(path="/etc/lds.yaml", watched_directory="/etc")),
    ({"path": "/etc/lds.yaml", "initial_fetch_timeout": "2s"},
     ConfigSource(path="/etc/lds.yaml", initial_fetch_timeout=2.0)),
    ({"ads": {}, "resource_api_version": "V3"}, ConfigSource(ads=True)),
    ({"api_config_source": GRPC}, ConfigSource(api=ApiConfigSource("GRPC", "xds"))),
    ({"api_config_source": {"api_type": "REST", "cluster_names": ["cp"], "refresh_delay": "0.5s"}},
     ConfigSource(api=ApiConfigSource("REST", "cp", refresh_delay=0.5))),
])
def test_config_sources(tree, expected):
    assert parsed(config_source, tree) == (expected, [])


@pytest.mark.parametrize("tree, path, reason", [
    ({}, "x", "exactly one of path, path_config_source, api_config_source, ads is required"),
    ({"ads": {}, "path": "/a"}, "x", "only one of"),
    ({"ads": {}, "resource_api_version": "V2"}, "x.resource_api_version", "not supported"),
    ({"api_config_source": {**GRPC, "cluster_names": ["a"]}}, "x.api_config_source.cluster_names",
     "gRPC API config sources name their server in grpc_services"),
    ({"api_config_source": {"api_type": "REST"}}, "x.api_config_source.cluster_names",
     "names exactly one cluster, got 0"),
    ({"api_config_source": {"api_type": "AGGREGATED_GRPC", "grpc_services": GRPC["grpc_services"]}},
     "x.api_config_source.api_type", "only valid in dynamic_resources.ads_config"),
    ({"api_config_source": {"grpc_services": GRPC["grpc_services"]}}, "x.api_config_source.api_type",
     "required field is missing"),
    ({"api_config_source": {**GRPC, "grpc_services": [{"google_grpc": {}}]}},
     "x.api_config_source.grpc_services[0].google_grpc", "not supported"),
])
def test_bad_config_sources_name_the_field(tree, path, reason):
    _result, problems = parsed(config_source, tree)
    assert any(p == path and reason in r for p, r in problems), problems


def test_ads_needs_an_ads_config():
    _result, problems = parsed(dynamic_resources, {"lds_config": {"ads": {}}})
    assert problems == [("x.lds_config.ads", "ADS is used but the bootstrap has no "
                                             "dynamic_resources.ads_config")]


def test_dynamic_resources():
    result, problems = parsed(dynamic_resources, {
        "ads_config": {**GRPC, "api_type": "DELTA_GRPC"},
        "cds_config": {"ads": {}}, "lds_config": {"path": "/l.yaml"}})
    assert problems == []
    assert result.ads.delta and result.cds.ads and result.lds.path == "/l.yaml"
    assert [kind for kind, _ in result.sources] == ["listeners", "clusters"]


ASSIGNMENT = {"cluster_name": "svc", "endpoints": [{"lb_endpoints": [
    {"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": "8080"}}},
     "load_balancing_weight": 3}]}]}


def test_an_assignment_with_64_bit_strings_and_unknown_fields():
    """proto3 JSON writes some integers as strings; a newer control plane adds fields."""
    body = {**ASSIGNMENT, "new_field": {"a": 1}}
    endpoints, unknown = parse_resource("endpoints", body)
    assert unknown == ["new_field"]
    (locality,) = endpoints
    (endpoint,) = locality.lb_endpoints
    assert (endpoint.address.address, endpoint.address.port, endpoint.load_balancing_weight) == \
        ("10.0.0.1", 8080, 3)
    assert without_unknown_fields(body, unknown) == ASSIGNMENT


def test_an_assignment_needs_ip_addresses():
    body = {"cluster_name": "svc", "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "backend.local", "port_value": 80}}}}]}]}
    with pytest.raises(ConfigError) as info:
        parse_resource("endpoints", body)
    assert info.value.problems[0][0] == "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address"


def test_a_route_configuration_resource_reports_paths_relative_to_it():
    body = {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "name": "r",
            "virtual_hosts": [{"name": "v", "domains": ["*"],
                               "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "c"}}]}],
            "vhds": {}}
    with pytest.raises(ConfigError) as info:
        parse_resource("routes", body)
    assert info.value.problems == [("vhds", "not supported by hotproxy yet")]
    del body["vhds"]
    config, unknown = parse_resource("routes", body)
    assert config.name == "r" and unknown == []


def test_an_rds_route_configuration_may_name_clusters_that_do_not_exist_yet():
    """validate_clusters is false by default for RDS: an unknown cluster is a 503 at run time."""
    body = {"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": "not-yet"}}]}]}
    assert parse_resource("routes", body)[0].virtual_hosts[0].routes[0]
