"""--config-yaml merged over -c with protobuf MergeFrom's rules, each case checked against Envoy
1.40's /config_dump."""
import pytest

from hotproxy.config.merge import merged

CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"


@pytest.mark.parametrize("base, override, expected", [
    ({"node": {"id": "a"}}, {"node": {"id": "b"}}, {"node": {"id": "b"}}),
    ({"node": {"id": "a"}}, {"node": {"cluster": "c"}}, {"node": {"id": "a", "cluster": "c"}}),
    ({"static_resources": {"listeners": [1]}}, {"static_resources": {"clusters": [2]}},
     {"static_resources": {"listeners": [1], "clusters": [2]}}),
    ({"static_resources": {"clusters": [1]}}, {"static_resources": {"clusters": [2]}},
     {"static_resources": {"clusters": [1, 2]}}),
    # proto3's defaults are indistinguishable from unset: they never replace.
    ({"node": {"id": "a"}}, {"node": {"id": ""}}, {"node": {"id": "a"}}),
    ({"enable_dispatcher_stats": True}, {"enable_dispatcher_stats": False},
     {"enable_dispatcher_stats": True}),
    ({"stats_config": {"use_all_default_tags": True}},
     {"stats_config": {"use_all_default_tags": False}},
     {"stats_config": {"use_all_default_tags": True}}),
    ({}, {"stats_config": {"use_all_default_tags": False}},
     {"stats_config": {"use_all_default_tags": False}}),
    ({"node": {"id": "a"}}, {"node": {"id": None}}, {"node": {"id": "a"}}),
    # ... except for oneof members, which have presence.
    ({"socket_address": {"port_value": 9901}}, {"socket_address": {"port_value": 0}},
     {"socket_address": {"port_value": 0}}),
    # A Duration merges its seconds and nanos separately.
    ({"stats_flush_interval": "1.5s"}, {"stats_flush_interval": "2s"},
     {"stats_flush_interval": "2.5s"}),
    ({"stats_flush_interval": "1.5s"}, {"stats_flush_interval": "0.25s"},
     {"stats_flush_interval": "1.25s"}),
    ({"stats_flush_interval": "1.5s"}, {"stats_flush_interval": {"seconds": 3}},
     {"stats_flush_interval": "3.5s"}),
    ({"stats_flush_interval": "1s"}, {"stats_flush_interval": "0s"},
     {"stats_flush_interval": "1s"}),
    ({"stats_flush_interval": "1s"}, {"stats_flush_interval": "5s"},
     {"stats_flush_interval": "5s"}),
    # proto3 JSON's camelCase names are the same fields.
    ({"stats_flush_interval": "1.5s"}, {"statsFlushInterval": "3s"},
     {"stats_flush_interval": "3.5s"}),
    # An Any is replaced whole, unless only its type is given.
    ({"typed_config": {"@type": CARES, "udp_max_queries": 7}},
     {"typed_config": {"@type": CARES, "filter_unroutable_families": True}},
     {"typed_config": {"@type": CARES, "filter_unroutable_families": True}}),
    ({"typed_config": {"@type": CARES, "udp_max_queries": 7}}, {"typed_config": {"@type": CARES}},
     {"typed_config": {"@type": CARES, "udp_max_queries": 7}}),
    # Mismatched shapes are the override's, for the parser to judge.
    ({"node": {"id": "a"}}, {"node": ["x"]}, {"node": ["x"]}),
], ids=["scalar", "message", "sibling-lists", "list-append", "empty-string", "false",
        "false-wrapper", "false-wrapper-unset-before", "null", "oneof-zero", "duration-nanos-kept",
        "duration-both", "duration-message-form", "zero-duration", "whole-durations",
        "camel-case", "any-replaced", "any-type-only", "shape-mismatch"])
def test_merged_as_envoys_merge_from(base, override, expected):
    assert merged(base, override) == expected


def test_merging_modifies_neither_tree():
    base, override = {"a": {"b": [1]}}, {"a": {"b": [2], "c": 3}}
    merged(base, override)
    assert (base, override) == ({"a": {"b": [1]}}, {"a": {"b": [2], "c": 3}})
