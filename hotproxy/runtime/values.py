"""Runtime values as Envoy 1.40 types them (source/common/runtime/runtime_impl.cc).

A value is what Envoy's ``google.protobuf.Value`` holds: a bool, a number, a string, a mapping
(``config.runtime.Struct`` or a dict) or None. Disk and admin values are text, read by Envoy's
YAML rules (``load_text``: ``5`` a number, ``true``/``yes`` a bool, ``{numerator: 5}`` a
mapping, ``2.5`` a string); static and RTDS values come typed from their Struct.

``typed(value) -> (double, integer, boolean, percent)`` is Envoy's ``createEntry``, each part None
when the value has none:

- a number: its double; a boolean (not zero) when it is a whole number below 2^31; an integer
  (rounded down) when it is not negative;
- a string: the same when it reads as a number (Envoy's SimpleAtod: surrounding whitespace
  allowed, ``inf``, ``nan``), else nothing (Envoy 1.40 no longer reads ``"true"`` or
  ``"{numerator: 5}"`` strings);
- a bool: its boolean only;
- a mapping whose keys are only ``numerator`` (a number) and ``denominator`` (HUNDRED,
  TEN_THOUSAND or MILLION): a fractional percent, (numerator, denominator); ``{}`` is 0/100.

``render(value)`` is the text /runtime shows for a static or RTDS value (Envoy's raw string).
"""
from __future__ import annotations

import math
import re

from ..config.runtime import Struct
from ..config.trees import yaml_tree
from ..errors import ConfigError

DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
_INT_MAX = 2**31 - 1
_UINT64_MAX = 2**64 - 1
_UINT32 = 2**32
# absl::SimpleAtod after its whitespace and leading '+' are taken off
_ATOD = re.compile(r"-?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|infinity|nan)", re.IGNORECASE)
_ASCII_SPACE = " \t\n\v\f\r"
# Text that YAML reads the obvious way: skips the YAML parser for most disk files.
_PLAIN_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,8})")
_PLAIN_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
               "FALSE": False}


class RuntimeValueError(ValueError):
    """A value no runtime entry can take: text that is not YAML, a list or null in a Struct."""


def load_text(text: str):
    """A disk or admin value's text as Envoy's YAML reader makes it a value. Raises
    RuntimeValueError for text that is not YAML."""
    if _PLAIN_INT.fullmatch(text):
        return int(text)
    if text in _PLAIN_BOOL:
        return _PLAIN_BOOL[text]
    try:
        value, _ = yaml_tree(text)
    except ConfigError as error:
        raise RuntimeValueError("; ".join(reason for _, reason in error.problems)) from None
    return value


def simple_atod(text: str) -> float | None:
    """absl::SimpleAtod: the number ``text`` spells, or None."""
    text = text.strip(_ASCII_SPACE)
    if text.startswith("+"):
        text = text[1:]
        if text.startswith("-"):
            return None
    if not _ATOD.fullmatch(text):
        return None
    return float(text)      # beyond a double's range: ±inf, as SimpleAtod


def typed(value) -> tuple:
    """(double, integer, boolean, percent) of a value, as Envoy's SnapshotImpl::createEntry."""
    if isinstance(value, bool):
        return None, None, value, None
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        number = simple_atod(value)
        return _number(number) if number is not None else (None, None, None, None)
    if isinstance(value, (Struct, dict)):
        return None, None, None, fractional_percent(value)
    return None, None, None, None


def _number(value) -> tuple:
    try:
        double = float(value)
    except OverflowError:       # an integer beyond a double: as Envoy's JSON reader, infinite
        double = math.inf if value > 0 else -math.inf
    boolean = (double != 0) if (-_INT_MAX - 1 <= double < _INT_MAX
                                and double.is_integer()) else None
    integer = (min(int(double), _UINT64_MAX) if 0 <= double <= _UINT64_MAX + 1 else None)
    return double, integer, boolean, None


def fractional_percent(value) -> tuple[int, int] | None:
    """Envoy's parseFractionValue: (numerator, denominator), or None when a key is neither."""
    fields = value.fields if isinstance(value, Struct) else tuple(value.items())
    numerator, denominator = 0, 100
    for key, item in fields:
        if key == "numerator":
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                numerator = _uint32(item)
        elif key == "denominator" and isinstance(item, str):
            if item not in DENOMINATORS:
                return None
            denominator = DENOMINATORS[item]
        else:
            return None
    return numerator, denominator


def _uint32(number) -> int:
    """A double stored in a uint32 field, as protobuf's setter converts it (whole part)."""
    if isinstance(number, float) and not math.isfinite(number):
        return 0
    return int(number) % _UINT32


def render(value) -> str:
    """The text /runtime shows for a static or RTDS value: a string as it is, a bool as
    true/false, a number as absl::StrCat prints a double (six significant digits), a mapping as
    flow YAML (``{numerator: 5, denominator: MILLION}``; Envoy prints protobuf's debug text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        try:
            return format(float(value), ".6g")
        except OverflowError:
            return "inf" if value > 0 else "-inf"
    if isinstance(value, str):
        return value
    if isinstance(value, (Struct, dict)):
        fields = value.fields if isinstance(value, Struct) else value.items()
        return "{" + ", ".join(f"{key}: {render(item)}" for key, item in fields) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(render(item) for item in value) + "]"
    return ""


def plain(value):
    """A value as msgpack (and JSON) carry it: mappings as dicts, numbers as floats when an
    integer would not fit in 64 bits."""
    if isinstance(value, (Struct, dict)):
        fields = value.fields if isinstance(value, Struct) else value.items()
        return {key: plain(item) for key, item in fields}
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
        return _number(value)[0]
    return value
