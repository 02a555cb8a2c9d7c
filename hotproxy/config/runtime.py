"""The bootstrap's ``layered_runtime`` (envoy.config.bootstrap.v3.LayeredRuntime) and
``core.v3.RuntimeFractionalPercent`` as frozen dataclasses, and the flattening of a runtime
Struct into dotted keys, which the static layer's parser and RTDS updates share
(hotproxy/runtime/ is what serves these values).

A runtime value is kept as Envoy's ``google.protobuf.Value`` would hold it: a bool, a number (int
or float), a string, or a ``Struct`` (a mapping kept whole: empty, or with a ``numerator`` or
``denominator`` key, which makes it a fractional percent).
"""
from __future__ import annotations

from dataclasses import dataclass

from .xds import ConfigSource


@dataclass(frozen=True)
class Struct:
    """A mapping value the flattening keeps whole, as ``(key, value)`` pairs in their order;
    nested mappings are Structs too, lists tuples."""
    fields: tuple = ()

    def get(self, key, default=None):
        for name, value in self.fields:
            if name == key:
                return value
        return default


@dataclass(frozen=True)
class StaticLayer:
    """``static_layer``: its Struct flattened, ``values`` the (dotted key, value) pairs."""
    name: str
    values: tuple = ()


@dataclass(frozen=True)
class DiskLayer:
    """``disk_layer``: read from ``<symlink_root>/<subdirectory>``, or with
    ``append_service_cluster`` from ``<symlink_root>/<subdirectory>/<service cluster>``."""
    name: str
    symlink_root: str
    subdirectory: str = ""
    append_service_cluster: bool = False


@dataclass(frozen=True)
class AdminLayer:
    """``admin_layer``: what /runtime_modify sets (at most one per runtime)."""
    name: str


@dataclass(frozen=True)
class RtdsLayer:
    """``rtds_layer``: values an RTDS update for the resource ``resource_name`` sets, fetched
    from ``rtds_config``."""
    name: str
    resource_name: str = ""
    rtds_config: ConfigSource | None = None


@dataclass(frozen=True)
class LayeredRuntime:
    """Later layers override earlier ones."""
    layers: tuple = ()


@dataclass(frozen=True)
class RuntimeFraction:
    """``core.v3.RuntimeFractionalPercent``: the share of requests ``numerator / denominator``
    (its default_value) unless the runtime has a value for ``runtime_key`` ('' : none)."""
    numerator: int
    denominator: int = 100
    runtime_key: str = ""

    @property
    def default(self) -> tuple[int, int]:
        return self.numerator, self.denominator


def kept_whole(mapping: dict) -> bool:
    """Whether a mapping in a runtime Struct is one value rather than more keys, as Envoy's
    ProtoLayer decides: it is empty or has a ``numerator`` or ``denominator`` key."""
    return not mapping or "numerator" in mapping or "denominator" in mapping


def flatten(tree: dict) -> tuple[list, list]:
    """Envoy's walk of a runtime Struct: ``(pairs, invalid)``, the (dotted key, value) pairs in
    order, the first of each key winning as in Envoy, and the (dotted key, value) pairs of the
    values no runtime entry can hold (lists and nulls: Envoy's "Invalid runtime entry value for
    <key>")."""
    pairs, invalid, seen = [], [], set()
    stack = [(key, value) for key, value in reversed(list(tree.items()))]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict) and not kept_whole(value):
            stack.extend((f"{key}.{name}", item) for name, item in reversed(list(value.items())))
        elif value is None or isinstance(value, list):
            invalid.append((key, value))
        elif key not in seen:
            seen.add(key)
            pairs.append((key, frozen(value)))
    return pairs, invalid


def frozen(value):
    """A value as the config keeps it: mappings as Structs, lists as tuples."""
    if isinstance(value, dict):
        return Struct(tuple((key, frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return value
