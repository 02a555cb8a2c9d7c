"""Merging one bootstrap tree over another as Envoy merges ``--config-yaml`` over ``-c``: with
protobuf's MergeFrom, on the YAML/JSON trees rather than on typed messages.

MergeFrom's rules, as Envoy 1.40 applies them: messages merge field by field, repeated fields are
appended, and a scalar replaces the one it merges over unless it is proto3's default (0, "",
false), which is indistinguishable from unset. A Duration is a message of seconds and nanos, so
"2s" over "1.5s" is 2.5s. An Any (a mapping with "@type") holds its message as bytes, which
replace each other whole.
"""
from __future__ import annotations

import re

from .fields import snake_case

# Scalar members of a proto oneof have presence: their default value replaces too
# (``port_value: 0`` asks for an ephemeral port).
_ONEOF_SCALARS = frozenset(("port_value", "named_port"))
_DURATION = re.compile(r"(-?)(\d+)(?:\.(\d{1,9}))?s")
_NANOS_PER_SECOND = 10**9


def merged(base, override):
    """``override`` merged over ``base``; neither is modified."""
    if isinstance(base, dict) and isinstance(override, dict):
        return _merged_message(base, override)
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def _merged_message(base: dict, override: dict) -> dict:
    if "@type" in override:
        return override if set(override) != {"@type"} else {**base, "@type": override["@type"]}
    result = dict(base)
    base_keys = {snake_case(key): key for key in base if isinstance(key, str)}
    for key, value in override.items():
        # proto3 JSON accepts camelCase names: statsFlushInterval merges over stats_flush_interval.
        existing = base_keys.get(snake_case(key), key) if isinstance(key, str) else key
        if value is None:
            continue                # null is unset in proto3 JSON
        if existing not in base:
            result[key] = value
            continue
        seconds_and_nanos = _duration(base[existing]), _duration(value)
        if None not in seconds_and_nanos:
            result[existing] = _merged_duration(*seconds_and_nanos)
        elif not _is_scalar(value) or key in _ONEOF_SCALARS or not _is_default(value):
            result[existing] = merged(base[existing], value)
    return result


def _is_scalar(value) -> bool:
    return not isinstance(value, (dict, list))


def _is_default(value) -> bool:
    return value in (0, "")     # False == 0 == 0.0


def _duration(value) -> tuple[int, int] | None:
    """(seconds, nanos) of a Duration in either of its JSON forms, else None."""
    if isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        sign = -1 if match[1] else 1
        return sign * int(match[2]), sign * int((match[3] or "").ljust(9, "0"))
    if isinstance(value, dict) and value and set(value) <= {"seconds", "nanos"}:
        parts = value.get("seconds", 0), value.get("nanos", 0)
        if all(isinstance(part, int) and not isinstance(part, bool) for part in parts):
            return parts
    return None


def _merged_duration(base: tuple[int, int], override: tuple[int, int]) -> str:
    seconds, nanos = (new or old for old, new in zip(base, override))
    total = seconds * _NANOS_PER_SECOND + nanos
    whole, fraction = divmod(abs(total), _NANOS_PER_SECOND)
    sign = "-" if total < 0 else ""
    return f"{sign}{whole}.{fraction:09d}".rstrip("0").rstrip(".") + "s"
