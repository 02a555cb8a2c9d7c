"""The few protobuf wire-format writers the span encoders need (Zipkin's and OTLP's messages),
so that the product depends on no generated code: fields are written in field-number order,
as protobuf's own serializers write them."""
from __future__ import annotations

import struct

_FIXED64 = struct.Struct("<Q")


def varint(value):
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(number, wire_type):
    return varint(number << 3 | wire_type)


def length_delimited(number, payload):
    """A bytes, string or message field (wire type 2); ``payload`` is bytes."""
    return tag(number, 2) + varint(len(payload)) + payload


def string(number, text):
    return length_delimited(number, text.encode()) if text else b""


def uint(number, value):
    return tag(number, 0) + varint(value) if value else b""


def boolean(number, value):
    return tag(number, 0) + b"\x01" if value else b""


def fixed64(number, value):
    return tag(number, 1) + _FIXED64.pack(value) if value else b""
