"""Parser for the Bootstrap's overload_manager (envoy.config.overload.v3) into overload.py's
dataclasses, with Envoy's validation and messages."""
from __future__ import annotations

from .fields import NOT_SUPPORTED, Fields, Node, present, typed_config
from .overload import (DISABLE_HTTP_KEEPALIVE, DOWNSTREAM_CONNECTIONS, FIXED_HEAP, REJECT_INCOMING_CONNECTIONS,
                       RESET_HIGH_MEMORY_STREAM, STOP_ACCEPTING_CONNECTIONS, STOP_ACCEPTING_REQUESTS,
                       OverloadAction, OverloadManager, ResourceMonitor, Trigger)

OVERLOAD_MANAGER = Fields("refresh_interval resource_monitors actions buffer_factory_config",
                          unsupported="loadshed_points")
RESOURCE_MONITOR = Fields("name typed_config")
ACTION = Fields("name triggers", unsupported="typed_config")
TRIGGER = Fields("name threshold scaled")
THRESHOLD = Fields("value")
SCALED = Fields("scaling_threshold saturation_threshold")
BUFFER_FACTORY = Fields("minimum_account_to_track_power_of_two")
FIXED_HEAP_CONFIG = Fields("max_heap_size_bytes")
CONNECTIONS_CONFIG = Fields("max_active_downstream_connections")

_MONITOR_TYPES = {
    FIXED_HEAP: ("type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig",
                 FIXED_HEAP_CONFIG, "max_heap_size_bytes"),
    DOWNSTREAM_CONNECTIONS: ("type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3"
                             ".DownstreamConnectionsConfig", CONNECTIONS_CONFIG, "max_active_downstream_connections"),
}
_ENVOY_MONITORS = frozenset(("envoy.resource_monitors.cgroup_memory", "envoy.resource_monitors.cpu_utilization",
                             "envoy.resource_monitors.injected_resource"))
_ACTIONS = frozenset((STOP_ACCEPTING_REQUESTS, DISABLE_HTTP_KEEPALIVE, STOP_ACCEPTING_CONNECTIONS,
                      REJECT_INCOMING_CONNECTIONS, RESET_HIGH_MEMORY_STREAM))
_ENVOY_ACTIONS = frozenset(("envoy.overload_actions.shrink_heap", "envoy.overload_actions.reduce_timeouts"))


def overload_manager(node: Node) -> OverloadManager | None:
    m = node.message(OVERLOAD_MANAGER)
    if m is None:
        return None
    monitors = []
    for monitor_node in m.items("resource_monitors"):
        monitor = resource_monitor(monitor_node)
        if monitor is None:
            continue
        if any(known.name == monitor.name for known in monitors):
            monitor_node.child("name").fail(f"Duplicate resource monitor {monitor.name}")
            continue
        monitors.append(monitor)
    names = {monitor.name for monitor in monitors}
    buffer_factory = m.nested("buffer_factory_config", lambda n: n.message(BUFFER_FACTORY))
    minimum = buffer_factory and buffer_factory.uint32("minimum_account_to_track_power_of_two",
                                                       minimum=10, maximum=56)
    actions = []
    for action_node in m.items("actions"):
        action = overload_action(action_node, names)
        if action is None:
            continue
        if any(known.name == action.name for known in actions):
            action_node.child("name").fail(f"Duplicate overload action {action.name}")
            continue
        if action.name == RESET_HIGH_MEMORY_STREAM and minimum is None:
            action_node.child("name").fail(f'Overload action "{action.name}" requires buffer_factory_config.')
        actions.append(action)
    return OverloadManager(resource_monitors=tuple(monitors), actions=tuple(actions),
                           **present(refresh_interval=m.duration("refresh_interval"),
                                     minimum_account_to_track_power_of_two=minimum))


def resource_monitor(node: Node) -> ResourceMonitor | None:
    m = node.message(RESOURCE_MONITOR)
    if m is None:
        return None
    name = m.string("name", required=True)
    if name in _ENVOY_MONITORS:
        return m.at("name").fail(f"resource monitor {name} is {NOT_SUPPORTED}")
    if name not in _MONITOR_TYPES:
        if name:
            m.at("name").fail(f"unknown resource monitor '{name}' (expected one of {', '.join(_MONITOR_TYPES)})")
        return None
    url, fields, limit_field = _MONITOR_TYPES[name]

    def parse(typed):
        config = typed.message(fields)
        return config and config.uint32(limit_field, minimum=1, maximum=2 ** 63, required=True)

    limit = m.nested("typed_config", lambda n: typed_config(n, {url: parse}), required=True)
    return ResourceMonitor(name, limit) if limit else None


def overload_action(node: Node, monitors: set) -> OverloadAction | None:
    m = node.message(ACTION)
    if m is None:
        return None
    name = m.string("name", required=True)
    if name in _ENVOY_ACTIONS:
        return m.at("name").fail(f"overload action {name} is {NOT_SUPPORTED}")
    if name not in _ACTIONS:
        if name:
            m.at("name").fail(f"Unknown Overload Manager Action {name}")
        return None
    triggers = []
    trigger_nodes = m.items("triggers")
    if not trigger_nodes:
        m.at("triggers").fail("at least one trigger is required")
    for trigger_node in trigger_nodes:
        parsed = trigger(trigger_node)
        if parsed is None:
            continue
        if parsed.resource not in monitors:
            trigger_node.child("name").fail(f"Unknown trigger resource {parsed.resource} for overload action {name}")
        elif any(known.resource == parsed.resource for known in triggers):
            trigger_node.child("name").fail(f"Duplicate trigger resource for overload action {name}")
        else:
            triggers.append(parsed)
    return OverloadAction(name, tuple(triggers)) if name else None


def trigger(node: Node) -> Trigger | None:
    m = node.message(TRIGGER)
    if m is None:
        return None
    resource = m.string("name", required=True)
    kind = m.one_of("threshold", "scaled")
    if kind == "threshold":
        value = m.nested("threshold", lambda n: _fraction(n.message(THRESHOLD), "value"))
        return Trigger(resource, threshold=value) if resource and value is not None else None
    if kind == "scaled":
        scaled = m.nested("scaled", lambda n: n.message(SCALED))
        if scaled is None:
            return None
        low, high = _fraction(scaled, "scaling_threshold"), _fraction(scaled, "saturation_threshold")
        if low is not None and high is not None and low >= high:
            scaled.node.fail("scaling_threshold must be less than saturation_threshold")
            return None
        return Trigger(resource, scaling_threshold=low, saturation_threshold=high) if resource else None
    return None


def _fraction(m, name) -> float | None:
    """A double in [0, 1], as Envoy's validation requires of thresholds."""
    if m is None:
        return None
    node = m.get(name)
    if node is None:
        return 0.0
    value = node.double()
    if value is not None and not 0 <= value <= 1:
        return node.fail(f"must be between 0 and 1, got {node.value}")
    return value
