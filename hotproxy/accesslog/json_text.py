"""JSON text as Envoy 1.40's JSON access logs write it: compact, strings escaped the way
Json::sanitize escapes them, and the literal values a json_format may hold."""
from __future__ import annotations

from json.encoder import encode_basestring

# Bytes that need no escape: printable ASCII but '"' and '\'.
_PLAIN = bytes(c for c in range(0x20, 0x7f) if c not in b'"\\')
# What Envoy writes for each byte of a string that is not valid UTF-8.
_INVALID_UTF8_ESCAPES = [bytes([c]) if c in _PLAIN else b"\\u%04x" % c for c in range(256)]
_INT32 = range(-2**31, 2**31)


def json_string(value: bytes) -> bytes:
    """``value`` escaped for the inside of a JSON string.

    Valid UTF-8 is escaped as nlohmann::json does (\\", \\\\, \\n-style escapes, \\u00XX for other
    control characters; DEL and non-ASCII characters kept). When ``value`` is not valid UTF-8,
    Envoy falls back to \\u00XX for every byte that is not plain printable ASCII.
    """
    if not value.translate(None, _PLAIN):
        return value
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return b"".join([_INVALID_UTF8_ESCAPES[c] for c in value])
    return encode_basestring(text)[1:-1].encode()


def json_literal(value) -> bytes:
    """A json_format value that holds no command operator, as Envoy prints it.

    Envoy reads YAML scalars into a Struct its own way: booleans stay booleans and integers that
    fit 32 bits stay numbers, but larger integers and all floats become strings as written (a
    float is written here as Python reads it back: ``2.5``, ``7.0``)."""
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int) and value in _INT32:
        return b"%d" % value
    if isinstance(value, (int, float)):
        return b'"%b"' % repr(value).encode()
    return b'"%b"' % json_string(value.encode())
