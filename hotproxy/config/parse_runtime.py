"""Parser for the Bootstrap's ``layered_runtime`` (envoy.config.bootstrap.v3.LayeredRuntime) and
for ``core.v3.RuntimeFractionalPercent``, into runtime.py's dataclasses, with Envoy's checks:
unique layer names, at most one admin layer, static values that a runtime entry can hold."""
from __future__ import annotations

from .parse_xds import config_source
from .fields import Enum, Fields, Node, describe, join
from .runtime import (AdminLayer, DiskLayer, LayeredRuntime, RtdsLayer, RuntimeFraction,
                      StaticLayer, flatten)

LAYERED_RUNTIME = Fields("layers")
RUNTIME_LAYER = Fields("name static_layer disk_layer admin_layer rtds_layer")
DISK_LAYER = Fields("symlink_root subdirectory append_service_cluster")
ADMIN_LAYER = Fields("")
RTDS_LAYER = Fields("name rtds_config")
LAYER_KINDS = ("static_layer", "disk_layer", "admin_layer", "rtds_layer")

RUNTIME_FRACTIONAL_PERCENT = Fields("default_value runtime_key")
FRACTIONAL_PERCENT = Fields("numerator denominator")
DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
DENOMINATOR = Enum(" ".join(DENOMINATORS))


def layered_runtime(node: Node) -> LayeredRuntime | None:
    m = node.message(LAYERED_RUNTIME)
    if m is None:
        return None
    layers, names, admin_seen = [], set(), False
    for layer_node in m.items("layers"):
        layer = runtime_layer(layer_node)
        if layer is None:
            continue
        if layer.name in names:
            layer_node.child("name").fail(f"Duplicate layer name: {layer.name}")
        names.add(layer.name)
        if isinstance(layer, AdminLayer):
            if admin_seen:
                layer_node.child("admin_layer").fail(
                    "Too many admin layers specified in LayeredRuntime, at most one may be "
                    "specified")
            admin_seen = True
        layers.append(layer)
    return LayeredRuntime(layers=tuple(layers))


def runtime_layer(node: Node):
    m = node.message(RUNTIME_LAYER)
    if m is None:
        return None
    name = m.string("name", required=True)
    kind = m.one_of(*LAYER_KINDS)
    if kind is None:
        return None
    layer = {"static_layer": static_layer, "disk_layer": disk_layer,
             "admin_layer": admin_layer, "rtds_layer": rtds_layer}[kind](m.at(kind), name)
    return layer if name else None


def static_layer(node: Node, name: str) -> StaticLayer | None:
    """A google.protobuf.Struct: any mapping, flattened into dotted keys."""
    if not isinstance(node.value, dict):
        return node.fail(f"expected a mapping, got {describe(node.value)}")
    pairs, invalid = flatten(node.value)
    for key, value in invalid:
        Node(value, join(node.path, key), node.ctx).fail(
            f"invalid runtime entry value: expected a number, string, boolean or mapping, got "
            f"{describe(value)}")
    return StaticLayer(name=name, values=tuple(pairs))


def disk_layer(node: Node, name: str) -> DiskLayer | None:
    m = node.message(DISK_LAYER)
    if m is None:
        return None
    # Envoy starts no watch on an empty path ("invalid file path").
    symlink_root = m.string("symlink_root", required=True)
    subdirectory = m.string("subdirectory", "")
    append = m.boolean("append_service_cluster", False)
    if not symlink_root:
        return None
    return DiskLayer(name=name, symlink_root=symlink_root, subdirectory=subdirectory,
                     append_service_cluster=append)


def admin_layer(node: Node, name: str) -> AdminLayer | None:
    return AdminLayer(name=name) if node.message(ADMIN_LAYER) is not None else None


def rtds_layer(node: Node, name: str) -> RtdsLayer | None:
    """The RTDS resource's name and where it comes from."""
    m = node.message(RTDS_LAYER)
    if m is None:
        return None
    resource_name = m.string("name", "")
    source = m.nested("rtds_config", config_source, required=True)
    return RtdsLayer(name=name, resource_name=resource_name, rtds_config=source)


def runtime_fractional_percent(node: Node) -> RuntimeFraction | None:
    """A RuntimeFractionalPercent: default_value (required) and runtime_key."""
    m = node.message(RUNTIME_FRACTIONAL_PERCENT)
    if m is None:
        return None
    key = m.string("runtime_key", "")
    percent = m.nested("default_value", fractional_percent, required=True)
    if percent is None:
        return None
    return RuntimeFraction(percent[0], percent[1], key)


def fractional_percent(node: Node) -> tuple[int, int] | None:
    """A type.v3.FractionalPercent as (numerator, denominator)."""
    m = node.message(FRACTIONAL_PERCENT)
    if m is None:
        return None
    numerator = m.uint32("numerator", 0)
    return numerator, DENOMINATORS[m.enum("denominator", DENOMINATOR, "HUNDRED")]
