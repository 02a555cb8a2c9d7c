"""The config fields of the hardening work: HCM path and Host normalization and underscores, the
connection_limit network filter, connection_balance_config, and overload_manager; every rejection
with its field path and, where Envoy has one, Envoy's message (probed on Envoy 1.40)."""
import pytest

from hotproxy.config.listener import ConnectionLimit
from hotproxy.config.overload import OverloadAction, OverloadManager, ResourceMonitor, Trigger

from config_helpers import HCM, LISTENER, Rejected, base_tree, ids, parse_with

CHAIN = f"{LISTENER}.filter_chains[0]"
CONNECTION_LIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit"
HEAP_TYPE = "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig"
CONNECTIONS_TYPE = ("type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3"
                    ".DownstreamConnectionsConfig")
HEAP = "envoy.resource_monitors.fixed_heap"
CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections"
STOP = "envoy.overload_actions.stop_accepting_requests"


def terminal_filter():
    """The base config's http_connection_manager filter."""
    return base_tree()["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]


def hcm(bootstrap):
    return bootstrap.listeners[0].filter_chains[0].filters[-1]


def test_normalization_defaults_are_envoys():
    config = hcm(parse_with({}))
    assert (config.normalize_path, config.merge_slashes, config.path_with_escaped_slashes_action,
            config.strip_trailing_host_dot, config.strip_host_port, config.headers_with_underscores_action) == (
        False, False, "IMPLEMENTATION_SPECIFIC_DEFAULT", False, "NONE", "ALLOW")


def test_normalization_fields_parse():
    config = hcm(parse_with({f"{HCM}.normalize_path": True, f"{HCM}.merge_slashes": True,
                             f"{HCM}.path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
                             f"{HCM}.strip_trailing_host_dot": True, f"{HCM}.strip_any_host_port": True,
                             f"{HCM}.common_http_protocol_options": {"headers_with_underscores_action": "DROP_HEADER"}}))
    assert (config.normalize_path, config.merge_slashes, config.path_with_escaped_slashes_action,
            config.strip_trailing_host_dot, config.strip_host_port, config.headers_with_underscores_action) == (
        True, True, "UNESCAPE_AND_REDIRECT", True, "ANY", "DROP_HEADER")
    assert hcm(parse_with({f"{HCM}.strip_matching_host_port": True})).strip_host_port == "MATCHING"


def limit(**fields):
    return {"name": "envoy.filters.network.connection_limit",
            "typed_config": {"@type": CONNECTION_LIMIT_TYPE, **fields}}


def test_connection_limit_comes_before_the_terminal_filter():
    bootstrap = parse_with({f"{CHAIN}.filters": [limit(stat_prefix="cl", max_connections=3, delay="0.5s"),
                                                 terminal_filter()]})
    filters = bootstrap.listeners[0].filter_chains[0].filters
    assert filters[0] == ConnectionLimit("cl", 3, 0.5)
    assert filters[-1].stat_prefix == "ingress_http"


def overload(**fields):
    heap = {"name": HEAP, "typed_config": {"@type": HEAP_TYPE, "max_heap_size_bytes": 1000}}
    action = {"name": STOP, "triggers": [{"name": HEAP, "threshold": {"value": 0.95}}]}
    return {"resource_monitors": [heap], "actions": [action], **fields}


def test_overload_manager_parses():
    config = parse_with({"overload_manager": overload(refresh_interval="0.25s")}).overload_manager
    assert config == OverloadManager(0.25, (ResourceMonitor(HEAP, 1000),),
                                     (OverloadAction(STOP, (Trigger(HEAP, threshold=0.95),)),))
    scaled = overload()
    scaled["resource_monitors"].append({"name": CONNECTIONS, "typed_config": {
        "@type": CONNECTIONS_TYPE, "max_active_downstream_connections": 10}})
    scaled["actions"][0]["triggers"] = [{"name": CONNECTIONS, "scaled": {"scaling_threshold": 0.5,
                                                                        "saturation_threshold": 0.9}}]
    config = parse_with({"overload_manager": scaled}).overload_manager
    assert config.refresh_interval == 1.0 and config.monitor(CONNECTIONS).limit == 10
    assert config.actions[0].triggers == (Trigger(CONNECTIONS, scaling_threshold=0.5, saturation_threshold=0.9),)


OM = "overload_manager"
REJECTED = [
    Rejected({f"{HCM}.strip_any_host_port": True, f"{HCM}.strip_matching_host_port": True}, HCM,
             "Only one of `strip_matching_host_port` or `strip_any_host_port` can be set."),
    Rejected({f"{HCM}.path_with_escaped_slashes_action": "NOPE"}, f"{HCM}.path_with_escaped_slashes_action",
             "unknown enum value 'NOPE'"),
    Rejected({f"{HCM}.common_http_protocol_options": {"headers_with_underscores_action": "X"}},
             f"{HCM}.common_http_protocol_options.headers_with_underscores_action", "unknown enum value 'X'"),
    Rejected({f"{CHAIN}.filters": [limit(stat_prefix="cl", max_connections=1)]}, f"{CHAIN}.filters[0]",
             "the last filter of a chain must be a terminal filter"),
    Rejected({f"{CHAIN}.filters[1]": limit(stat_prefix="cl", max_connections=1)}, f"{CHAIN}.filters[0]",
             "must be the last filter in a network filter chain"),
    Rejected({f"{LISTENER}.connection_balance_config": {"extend_balance": {}}},
             f"{LISTENER}.connection_balance_config.extend_balance", "not supported by hotproxy yet"),
    Rejected({f"{LISTENER}.connection_balance_config": {}},
             f"{LISTENER}.connection_balance_config", "exactly one of exact_balance, extend_balance is required"),
    Rejected({OM: overload(loadshed_points=[])}, f"{OM}.loadshed_points", "not supported by hotproxy yet"),
    Rejected({OM: {**overload(), "resource_monitors": overload()["resource_monitors"] * 2}},
             f"{OM}.resource_monitors[1].name", f"Duplicate resource monitor {HEAP}"),
    Rejected({OM: {**overload(), "actions": overload()["actions"] * 2}}, f"{OM}.actions[1].name",
             f"Duplicate overload action {STOP}"),
    Rejected({OM: {**overload(), "actions": [{"name": "envoy.overload_actions.nope", "triggers": []}]}},
             f"{OM}.actions[0].name", "Unknown Overload Manager Action envoy.overload_actions.nope"),
    Rejected({OM: {**overload(), "actions": [{"name": "envoy.overload_actions.shrink_heap", "triggers": []}]}},
             f"{OM}.actions[0].name", "not supported by hotproxy yet"),
    Rejected({OM: {**overload(), "actions": [{"name": STOP, "triggers": [{"name": "nope", "threshold": {"value": 1}}]}]}},
             f"{OM}.actions[0].triggers[0].name", f"Unknown trigger resource nope for overload action {STOP}"),
    Rejected({OM: {**overload(), "actions": [{"name": STOP, "triggers": [{"name": HEAP, "threshold": {"value": 1.5}}]}]}},
             f"{OM}.actions[0].triggers[0].threshold.value", "must be between 0 and 1"),
    Rejected({OM: {**overload(), "actions": [{"name": STOP, "triggers": [{"name": HEAP}]}]}},
             f"{OM}.actions[0].triggers[0]", "exactly one of threshold, scaled is required"),
    Rejected({OM: {**overload(), "actions": [{"name": STOP, "triggers": [
        {"name": HEAP, "scaled": {"scaling_threshold": 0.9, "saturation_threshold": 0.8}}]}]}},
             f"{OM}.actions[0].triggers[0].scaled", "scaling_threshold must be less than saturation_threshold"),
    Rejected({OM: {**overload(), "actions": [{"name": STOP, "triggers": [
        {"name": HEAP, "threshold": {"value": 0.5}}, {"name": HEAP, "threshold": {"value": 0.6}}]}]}},
             f"{OM}.actions[0].triggers[1].name", f"Duplicate trigger resource for overload action {STOP}"),
    Rejected({OM: {**overload(), "actions": [{"name": "envoy.overload_actions.reset_high_memory_stream",
                                              "triggers": [{"name": HEAP, "threshold": {"value": 0.5}}]}]}},
             f"{OM}.actions[0].name", "requires buffer_factory_config"),
    Rejected({OM: {**overload(), "resource_monitors": [{"name": HEAP, "typed_config": {"@type": HEAP_TYPE}}]}},
             f"{OM}.resource_monitors[0].typed_config.max_heap_size_bytes", "required field is missing"),
    Rejected({OM: {**overload(), "resource_monitors": [{"name": CONNECTIONS, "typed_config": {
        "@type": CONNECTIONS_TYPE, "max_active_downstream_connections": 0}}]}},
             f"{OM}.resource_monitors[0].typed_config.max_active_downstream_connections", "must be between 1 and"),
    Rejected({OM: {**overload(), "resource_monitors": [{"name": "envoy.resource_monitors.cgroup_memory",
                                                        "typed_config": {}}]}},
             f"{OM}.resource_monitors[0].name", "not supported by hotproxy yet"),
    Rejected({OM: {**overload(), "resource_monitors": [{"name": HEAP, "typed_config": {
        "@type": CONNECTIONS_TYPE, "max_active_downstream_connections": 1}}]}},
             f"{OM}.resource_monitors[0].typed_config.@type", "is not supported by hotproxy yet here"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()


@pytest.mark.parametrize("fields, at, reason", [
    ({"max_connections": 1}, "stat_prefix", "required field is missing"),
    ({"stat_prefix": "cl"}, "max_connections", "required field is missing"),
    ({"stat_prefix": "cl", "max_connections": 0}, "max_connections", "must be between 1 and"),
    ({"stat_prefix": "cl", "max_connections": 1, "delay": "-1s"}, "delay", "negative duration"),
    ({"stat_prefix": "cl", "max_connections": 1, "runtime_enabled": {}}, "runtime_enabled", "not supported"),
])
def test_connection_limit_rejections(fields, at, reason):
    Rejected({f"{CHAIN}.filters": [limit(**fields), terminal_filter()]}, f"{CHAIN}.filters[0].typed_config.{at}", reason).check()
