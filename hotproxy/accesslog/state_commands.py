"""``%DYNAMIC_METADATA(NAMESPACE:KEY*):Z%`` and ``%FILTER_STATE(KEY:F:FIELD?):Z%``: what filters
left in ``info.dynamic_metadata`` and ``info.filter_state``, printed as Envoy 1.40 prints them.

A metadata value that is a string prints as itself, anything else (numbers, booleans, lists,
a whole namespace) as compact JSON; in a JSON log a lone operator keeps the value's JSON type.
``Z`` truncates the text, and in a JSON log only string values. A missing value prints "-"
(null in JSON).

Filter state: ``F`` is PLAIN (the object as a string), TYPED (the default: the object as JSON)
or FIELD (one field of a mapping: ``%FILTER_STATE(KEY:FIELD:NAME)%``).
"""
from __future__ import annotations

import math

from .json_text import json_string
from .syntax import Command, FormatError

_MISSING = object()
_FILTER_STATE_FORMATS = ("PLAIN", "TYPED", "FIELD")


def metadata_readers(command: Command):
    """(text(info), json(info)) for a %DYNAMIC_METADATA% operator."""
    namespace, *path = command.parameters.split(":")
    if not namespace:
        raise FormatError(f"{command.written}: %DYNAMIC_METADATA% requires a namespace: "
                          "%DYNAMIC_METADATA(NAMESPACE:KEY)%")
    length = command.length

    def lookup(info):
        value = (info.dynamic_metadata or {}).get(namespace, _MISSING)
        for key in path:
            if not isinstance(value, dict):
                return _MISSING
            value = value.get(key, _MISSING)
        return _MISSING if value is None else value

    def text(info):
        value = lookup(info)
        if value is _MISSING:
            return None
        printed = _str_bytes(value) if isinstance(value, str) else to_json(value)
        return printed if length is None else printed[:length]

    def json(info):
        value = lookup(info)
        if value is _MISSING:
            return None
        if isinstance(value, str) and length is not None:
            value = _str_bytes(value)[:length].decode("utf-8", "surrogateescape")
        return to_json(value)
    return text, json


def filter_state_readers(command: Command):
    """(text(info), json(info)) for a %FILTER_STATE% operator."""
    key, *rest = command.parameters.split(":")
    if not key:
        raise FormatError(f"{command.written}: %FILTER_STATE% requires a key: "
                          "%FILTER_STATE(KEY)%")
    kind = rest[0] if rest else "TYPED"
    if kind not in _FILTER_STATE_FORMATS or len(rest) > 2:
        raise FormatError(f"{command.written}: the serialization of %FILTER_STATE% is one of "
                          "PLAIN, TYPED and FIELD")
    field = rest[1] if len(rest) == 2 else None
    if (kind == "FIELD") != (field is not None):
        raise FormatError(f"{command.written}: a field is named only with FIELD: "
                          "%FILTER_STATE(KEY:FIELD:NAME)%")
    length = command.length

    def lookup(info):
        value = (info.filter_state or {}).get(key)
        if value is not None and field is not None:
            value = value.get(field) if isinstance(value, dict) else None
        return value

    def text(info):
        value = lookup(info)
        if value is None:
            return None
        printed = _plain(value) if kind != "TYPED" else to_json(value)
        return printed if length is None or printed is None else printed[:length]

    def json(info):
        value = lookup(info)
        if value is None:
            return None
        if kind == "TYPED":
            return to_json(value)
        printed = _plain(value)
        if printed is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and kind == "FIELD":
            return printed
        return b'"%b"' % json_string(printed if length is None else printed[:length])
    return text, json


def _str_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _plain(value):
    """A filter state object as an unstructured string (Envoy's serializeAsString)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return _str_bytes(value)
    serialize = getattr(value, "serialize_as_string", None)
    return serialize() if serialize is not None else to_json(value)


def to_json(value) -> bytes:
    """Compact JSON as protobuf writes a google.protobuf.Value: keys sorted, whole numbers
    without a fraction."""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, (str, bytes)):
        return b'"%b"' % json_string(value if isinstance(value, bytes) else _str_bytes(value))
    if isinstance(value, dict):
        return b"{%b}" % b",".join(b'"%b":%b' % (json_string(_str_bytes(str(key))), to_json(item))
                                   for key, item in sorted(value.items(), key=_key_text)
                                   if item is not None)
    if isinstance(value, (list, tuple)):
        return b"[%b]" % b",".join(b"null" if item is None else to_json(item) for item in value)
    if value is None:
        return b"null"
    serialize = getattr(value, "serialize_as_json", None)     # an object of a filter's own
    if serialize is not None:
        return serialize()
    return b'"%b"' % json_string(_str_bytes(str(value)))


def _key_text(item):
    return str(item[0])


def _number(value) -> bytes:
    if isinstance(value, int):
        return b"%d" % value
    if math.isnan(value):
        return b'"NaN"'
    if math.isinf(value):
        return b'"Infinity"' if value > 0 else b'"-Infinity"'
    if value.is_integer() and abs(value) < 2**53:
        return b"%d" % value
    return repr(value).encode()
