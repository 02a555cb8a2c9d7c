"""Parser for hotproxy's Python filter (type.googleapis.com/hotproxy.filters.python.v1.Python):
the operator's class, named by ``module`` (a dotted name importable from the workers' sys.path)
or ``path`` (a .py file), and ``class``, with a free ``config`` map for its constructor. Per route
(typed_per_filter_config, same type) only ``config`` may be set. Importing the class is not done
here (config is sans-IO): process/validate.py has it loaded once, in a fresh interpreter, before a
config is accepted (docs/python-filters.md)."""
from __future__ import annotations

import keyword
from dataclasses import dataclass
from typing import ClassVar

from ..fields import Fields, Node, describe

PYTHON = Fields("module path class config")
PYTHON_PER_ROUTE = Fields("config module path class")
_MAX_DEPTH = 64


class ConfigMap(dict):
    """A read-only, hashable dict: the ``config`` map as the config has it (nested maps are
    ConfigMaps, lists are tuples), so that parsed configs stay comparable across reloads."""

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError("the filter's config map is read-only (copy it with thawed())")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __hash__(self):
        return hash(frozenset(self.items()))

    def __reduce__(self):
        return (ConfigMap, (dict(self),))

    def __repr__(self):
        return f"ConfigMap({dict.__repr__(self)})"


def frozen(value):
    """JSON-like ``value`` with maps as ConfigMaps and lists as tuples."""
    if isinstance(value, dict):
        return ConfigMap((key, frozen(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return value


def thawed(value):
    """A mutable deep copy of a frozen ``value``: dicts and lists again."""
    if isinstance(value, dict):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thawed(item) for item in value]
    return value


@dataclass(frozen=True)
class Python:
    """``module`` or ``path`` (exactly one), ``class_name``, and ``config``."""
    class_name: str
    module: str | None = None
    path: str | None = None
    config: ConfigMap = ConfigMap()
    runtime: ClassVar[str] = "python"

    @property
    def source(self) -> str:
        """The module or file, as the config names it."""
        return self.module if self.module is not None else self.path


@dataclass(frozen=True)
class PythonPerRoute:
    """A route's ``config`` map for the filter, read with ``stream.route_config(name).config``."""
    config: ConfigMap = ConfigMap()
    runtime: ClassVar[str] = "python"


def parse(node: Node) -> Python | None:
    m = node.message(PYTHON)
    if m is None:
        return None
    source = m.one_of("module", "path")
    module = m.string("module", non_empty=True)
    path = m.string("path", non_empty=True)
    if module and not all(part.isidentifier() and not keyword.iskeyword(part)
                          for part in module.split(".")):
        m.at("module").fail(f"'{module}' is not a dotted module name (e.g. mypackage.filters)")
        module = None
    class_name = m.string("class", required=True)
    if class_name and not class_name.isidentifier():
        m.at("class").fail(f"'{class_name}' is not a class name")
        class_name = None
    config = m.nested("config", _config_map)
    if source is None or not (module or path) or not class_name:
        return None
    return Python(class_name=class_name, module=module, path=path,
                  config=ConfigMap() if config is None else config)


def parse_per_route(node: Node) -> PythonPerRoute | None:
    m = node.message(PYTHON_PER_ROUTE)
    if m is None:
        return None
    for name in ("module", "path", "class"):
        if m.has(name):
            m.at(name).fail("only config may be set per route: the module and class are the "
                            "http_filters entry's")
    config = m.nested("config", _config_map)
    return PythonPerRoute(ConfigMap() if config is None else config)


def _config_map(node: Node) -> ConfigMap | None:
    if not isinstance(node.value, dict):
        return node.fail(f"expected a mapping, got {describe(node.value)}")
    if _depth(node.value) > _MAX_DEPTH:
        return node.fail(f"nested deeper than {_MAX_DEPTH} levels")
    return frozen(node.value)


def _depth(value, level=0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level)
    return level
