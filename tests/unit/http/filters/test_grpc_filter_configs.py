"""Parsing the gRPC filters' configs: Envoy 1.40's fields and defaults, and what is refused."""
from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import grpc_http1_bridge, grpc_stats, grpc_web, parser

EXT = "type.googleapis.com/envoy.extensions.filters.http."


def parse(parse_function, value):
    ctx = Context()
    return parse_function(Node(value, "f", ctx)), ctx.problems


def test_the_types_are_registered():
    assert parser(EXT + "grpc_web.v3.GrpcWeb") is grpc_web.parse
    assert parser(EXT + "grpc_http1_bridge.v3.Config") is grpc_http1_bridge.parse
    assert parser(EXT + "grpc_stats.v3.FilterConfig") is grpc_stats.parse


def test_grpc_web_has_no_fields():
    assert parse(grpc_web.parse, {}) == (grpc_web.GrpcWeb(), [])
    assert parse(grpc_web.parse, {"x": 1})[1] == [("f.x", "unknown field 'x'")]


def test_bridge_fields():
    assert parse(grpc_http1_bridge.parse, {}) == (grpc_http1_bridge.GrpcHttp1Bridge(), [])
    config, problems = parse(grpc_http1_bridge.parse, {"upgradeProtobufToGrpc": True,
                                                       "ignore_query_parameters": "true"})
    assert problems == [] and config.upgrade_protobuf_to_grpc and config.ignore_query_parameters
    assert parse(grpc_http1_bridge.parse, {"ignore_query_parameters": 3})[1] == [
        ("f.ignore_query_parameters", "expected a boolean, got 3")]


def test_grpc_stats_fields_and_defaults():
    assert parse(grpc_stats.parse, {}) == (grpc_stats.GrpcStats(), [])
    config, problems = parse(grpc_stats.parse, {"stats_for_all_methods": True,
                                                "replace_dots_in_grpc_service_name": True,
                                                "emit_filter_state": False})
    assert problems == [] and config.all_methods and config.replace_dots
    config, problems = parse(grpc_stats.parse, {"individual_method_stats_allowlist": {
        "services": [{"name": "a.B", "method_names": ["C", "D"]}, {"name": "e", "method_names": ["F"]}]}})
    assert problems == []
    assert config.allowlist == {("a.B", "C"), ("a.B", "D"), ("e", "F")} and not config.all_methods


def test_grpc_stats_refusals_name_the_field():
    config, problems = parse(grpc_stats.parse, {"emit_filter_state": True, "enable_upstream_stats": True})
    assert problems == [("f.enable_upstream_stats", "true is not supported by hotproxy yet")]
    _, problems = parse(grpc_stats.parse, {"stats_for_all_methods": True,
                                           "individual_method_stats_allowlist": {}})
    assert problems == [("f", "only one of stats_for_all_methods, individual_method_stats_allowlist "
                              "may be set, got stats_for_all_methods and "
                              "individual_method_stats_allowlist")]
    _, problems = parse(grpc_stats.parse, {"individual_method_stats_allowlist": {
        "services": [{"method_names": ["C"]}]}})
    assert problems == [("f.individual_method_stats_allowlist.services[0].name",
                         "required field is missing")]
