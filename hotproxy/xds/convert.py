"""Protobuf messages to Envoy-YAML-shaped dicts and back, and the fields of a message that its
proto does not know.

Message types are found lazily: xds-protos defines one ``*_pb2`` module per .proto file, and a
resource names the types of its typed_config Anys only by type URL, so on a type the descriptor
pool lacks, every ``*_pb2`` module of that type's package (its directory) is imported.

Unknown fields are what Envoy counts as ``server.dynamic_unknown_fields``: a control plane newer
than hotproxy's protos sends fields it cannot apply. A binary message keeps them (protobuf's
UnknownFieldSet), named by number (``#99``) under the path of the message holding them; JSON
and YAML name them, and json_format refuses them, so they are found by walking the parsed value
against the descriptors, then parsed with ``ignore_unknown_fields``.

A path reads as in Envoy's error messages: ``filter_chains[0].filters[1].typed_config.#99``;
an Any's fields are under the Any's own path, a map's values under ``field[key]``.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import threading

from google.protobuf import descriptor_pool, json_format, message_factory, unknown_fields
from google.protobuf.descriptor import FieldDescriptor

_ANY = "google.protobuf.Any"
#: well-known types whose JSON form is not an object of their fields; an Any holding one puts
#: that form under "value"
_SPECIAL_JSON = frozenset(
    f"google.protobuf.{name}" for name in (
        "Duration Timestamp FieldMask Struct Value ListValue NullValue Empty DoubleValue "
        "FloatValue Int64Value UInt64Value Int32Value UInt32Value BoolValue StringValue "
        "BytesValue").split())

_pool = descriptor_pool.Default()
_imported_packages = set()
_importing = threading.RLock()
_json_names = {}    # descriptor full name → {json_name: field}


def message_class(full_name: str):
    """The generated class of the message type ``full_name``, importing its package's modules
    when the pool does not know it yet. Raises ValueError for a type no module defines."""
    try:
        descriptor = _pool.FindMessageTypeByName(full_name)
    except KeyError:
        _import_package(full_name.rpartition(".")[0])
        try:
            descriptor = _pool.FindMessageTypeByName(full_name)
        except KeyError:
            raise ValueError(f"unknown message type {full_name}") from None
    return message_factory.GetMessageClass(descriptor)


def _import_package(package: str):
    """Under a lock: the client's threads decode at once, and a package marked imported
    before its modules are must not send another thread looking in an incomplete pool."""
    with _importing:
        if not package or package in _imported_packages:
            return
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            for directory in spec.submodule_search_locations:
                for entry in sorted(os.listdir(directory)):
                    if entry.endswith("_pb2.py"):
                        importlib.import_module(f"{package}.{entry[:-3]}")
        _imported_packages.add(package)


def type_name(type_url: str) -> str:
    """``type.googleapis.com/envoy.config.listener.v3.Listener`` → its message's full name."""
    return type_url.rpartition("/")[2]


def unpack(any_message):
    """The message an Any holds, its unknown fields kept. Raises ValueError."""
    cls = message_class(type_name(any_message.type_url))
    message = cls()
    try:
        message.ParseFromString(any_message.value)
    except Exception as error:     # protobuf's DecodeError, or upb's RuntimeError
        raise ValueError(f"Unable to unpack as {cls.DESCRIPTOR.full_name}: {error}") from None
    return message


def to_dict(message) -> dict:
    """The message as Envoy's YAML would write it: proto field names, Anys with ``@type``. Its
    proto3 JSON form: 64-bit integers are strings, Durations strings like ``"1.500s"``, fields
    at their default value absent. Every nested Any's type must be loadable (wire_unknown_fields
    loads them first)."""
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    except (TypeError, ValueError, json_format.Error) as error:
        raise ValueError(str(error)) from None


def wire_unknown_fields(message, path: str = "") -> list[str]:
    """The paths of the fields of a parsed binary ``message`` (nested messages and Anys
    included) that its proto does not know. Raises ValueError for an Any of an unknown type."""
    found = []
    _walk_wire(message, path, found)
    return found


def _walk_wire(message, path, found):
    found.extend(_join(path, f"#{field.field_number}")
                 for field in unknown_fields.UnknownFieldSet(message))
    if message.DESCRIPTOR.full_name == _ANY:
        if message.type_url:
            try:
                _walk_wire(unpack(message), path, found)
            except ValueError as error:
                raise ValueError(f"{path or 'resource'}: {error}") from None
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        name = _join(path, field.name)
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key, item in value.items():
                    _walk_wire(item, f"{name}[{key}]", found)
        elif field.is_repeated:
            for index, item in enumerate(value):
                _walk_wire(item, f"{name}[{index}]", found)
        else:
            _walk_wire(value, name, found)


def parse_json(value, cls):
    """``value`` (parsed JSON or YAML) as a ``cls`` message, and the paths of the fields in it
    that the protos do not know (left out of the message). Raises ValueError."""
    found = []
    _walk_json(value, cls.DESCRIPTOR, "", found)
    message = cls()
    try:
        json_format.ParseDict(value, message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as error:
        raise ValueError(str(error)) from None
    return message, found


def _walk_json(value, descriptor, path, found):
    """Collects unknown keys; a value of the wrong shape is left for ParseDict to refuse."""
    if descriptor.full_name == _ANY:
        if not isinstance(value, dict) or not isinstance(value.get("@type"), str):
            return
        try:
            inner = message_class(type_name(value["@type"])).DESCRIPTOR
        except ValueError:
            return      # ParseDict names the type it cannot resolve
        if inner.full_name in _SPECIAL_JSON:
            _walk_json(value.get("value"), inner, path, found)
        else:
            _walk_json({k: v for k, v in value.items() if k != "@type"}, inner, path, found)
        return
    if descriptor.full_name in _SPECIAL_JSON or not isinstance(value, dict):
        return
    by_json_name = _json_names.get(descriptor.full_name)
    if by_json_name is None:
        by_json_name = _json_names[descriptor.full_name] = {f.json_name: f
                                                            for f in descriptor.fields}
    for key, item in value.items():
        field = descriptor.fields_by_name.get(key) or by_json_name.get(key)
        name = _join(path, key)
        if field is None:
            found.append(name)
        elif field.type != FieldDescriptor.TYPE_MESSAGE or item is None:
            continue
        elif field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(item, dict):
                for map_key, map_item in item.items():
                    _walk_json(map_item, value_field.message_type, f"{name}[{map_key}]", found)
        elif field.is_repeated:
            if isinstance(item, list):
                for index, element in enumerate(item):
                    _walk_json(element, field.message_type, f"{name}[{index}]", found)
        else:
            _walk_json(item, field.message_type, name, found)


def node_message(node: dict):
    """The ``envoy.config.core.v3.Node`` for a bootstrap's ``node`` (a dict as in the YAML).
    Raises ValueError for a field Node does not have."""
    from envoy.config.core.v3 import base_pb2
    message, unknown = parse_json(node, base_pb2.Node)
    if unknown:
        raise ValueError(f"node: unknown field(s) {', '.join(unknown)}")
    return message


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
