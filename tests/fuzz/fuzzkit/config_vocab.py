"""What Envoy configs are made of, read from hotproxy's own parser tables: every field name of
every ``Fields`` message, every enum value, every type URL and extension name. Config trees built
from it reach deep into the parser instead of stopping at "unknown field"."""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

import hotproxy.config
from hotproxy.config.fields import Enum, Fields

#: Scalars that mean something somewhere in a config.
SCALARS = ("0s", "1s", "0.25s", "-1s", "1.5", "300s", "0.000000001s", "1e3s", "127.0.0.1", "::1",
           "0.0.0.0", "localhost", "*", "*.example.com", "/", "/v1/", "^/a(b)?$", "(", "\\1",
           "%START_TIME%", "%REQ(:PATH)%", "%", "%REQ(", "x-header", ":path", "host", "a\r\nb",
           "true", "null", "", "4294967296", "-1", "65536", "AAAA", "=", "chunked")
NUMBERS = (0, 1, -1, 2, 65535, 65536, 2**32 - 1, 2**32, 2**63, 10**30, 0.5, 1.0, -0.0,
           float("inf"), float("nan"))


@lru_cache(maxsize=1)
def vocabulary() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(field names, enum values, type URLs and extension names) of every parse* module."""
    fields, enums, names = set(), set(), set()
    for info in pkgutil.iter_modules(hotproxy.config.__path__):
        if info.name.startswith("parse"):
            module = importlib.import_module(f"hotproxy.config.{info.name}")
            for value in vars(module).values():
                _collect(value, fields, enums, names)
    return tuple(sorted(fields)), tuple(sorted(enums)), tuple(sorted(names))


def _collect(value, fields, enums, names, depth=0) -> None:
    if isinstance(value, Fields):
        fields |= value.supported | value.unsupported
    elif isinstance(value, Enum):
        enums |= set(value.supported) | value.unsupported
    elif isinstance(value, str):
        if value.startswith(("type.googleapis.com/", "envoy.")):
            names.add(value)
    elif isinstance(value, dict) and depth < 3:
        for item in (*value, *value.values()):
            _collect(item, fields, enums, names, depth + 1)
    elif isinstance(value, (tuple, list, set, frozenset)) and depth < 3:
        for item in value:
            _collect(item, fields, enums, names, depth + 1)
