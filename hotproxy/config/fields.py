"""Reading the config tree the way Envoy reads proto3 JSON, recording every problem with its path.

A ``Node`` is one value of the tree with its field path. ``Node.message`` reads a mapping as one
proto message whose field names are declared up front in a ``Fields`` table: a key outside it is an
"unknown field", a key Envoy knows but hotproxy does not read is "not supported by hotproxy yet".

Getters never raise: a bad value is recorded as a problem and read as absent, so that parsing goes
on and one run reports every problem. Absent values are ``None``; ``present()`` drops them so that
the dataclass defaults (which are Envoy's) apply.
"""
from __future__ import annotations

import decimal
import re
from dataclasses import dataclass, field

NOT_SUPPORTED = "not supported by hotproxy yet"
UINT32_MAX = 2**32 - 1
_DURATION = re.compile(r"-?\d+(\.\d{1,9})?s")
_MAX_DURATION_SECONDS = 315_576_000_000     # protobuf's Duration range
# Envoy's JSON reader takes numbers from strings too: "80", "1e4", "0x50", "+80".
_QUOTED_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_QUOTED_HEX = re.compile(r"[-+]?0[xX][0-9a-fA-F]+")
# ... and booleans from these strings, in any case (absl::SimpleAtob).
_BOOLEAN_WORDS = {"true": True, "t": True, "yes": True, "y": True, "1": True,
                  "false": False, "f": False, "no": False, "n": False, "0": False}
_CAMEL_HUMP = re.compile(r"[A-Z]")
_FORBIDDEN_IN_HEADERS = re.compile(r"[\x00\r\n]")


@dataclass
class Context:
    """What one parse collects: the problems, and the cluster names that routes and filters refer
    to, which are checked against static_resources.clusters once everything is parsed."""
    problems: list = field(default_factory=list)
    cluster_refs: list = field(default_factory=list)      # (field path, cluster name)
    # A list: fields Envoy's protos do not know are recorded here by path, not reported as
    # problems (Envoy's --allow-unknown-static-fields).
    unknown_fields: list | None = None
    # Secrets by name, parsed (config/tls.py's TlsCertificate or ValidationContext): those of
    # static_resources.secrets, and those SDS sent, which TLS contexts refer to by name.
    secrets: dict = field(default_factory=dict)
    sds_secrets: dict = field(default_factory=dict)


class Fields:
    """The field names of one proto message: ``supported`` are read by hotproxy, ``unsupported``
    are the rest of what Envoy knows (whitespace-separated)."""

    def __init__(self, supported: str, unsupported: str = ""):
        self.supported = frozenset(supported.split())
        self.unsupported = frozenset(unsupported.split())

    def canonical(self, key) -> str | None:
        """The field name ``key`` stands for; proto3 JSON also accepts lowerCamelCase names."""
        if not isinstance(key, str):
            return None
        for name in (key, snake_case(key)):
            if name in self.supported or name in self.unsupported:
                return name
        return None


class StructFields(Fields):
    """A google.protobuf.Struct read as a message: any string key is a field."""

    def __init__(self):
        super().__init__("")

    def canonical(self, key) -> str | None:
        return key if isinstance(key, str) else None


class Enum:
    """The value names of one proto enum, split like ``Fields``."""

    def __init__(self, supported: str, unsupported: str = ""):
        self.supported = tuple(supported.split())
        self.unsupported = frozenset(unsupported.split())


def snake_case(key: str) -> str:
    """The proto field name that the lowerCamelCase JSON name ``key`` stands for."""
    return _CAMEL_HUMP.sub(lambda hump: "_" + hump.group().lower(), key)


def join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def present(**values) -> dict:
    """The keyword arguments that are set, so that the dataclass defaults apply to the others."""
    return {name: value for name, value in values.items() if value is not None}


def parse_each(nodes, parse) -> tuple:
    """``parse`` applied to each node, leaving out those that failed (their problems are
    recorded)."""
    return tuple(value for value in map(parse, nodes) if value is not None)


def describe(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


@dataclass(frozen=True)
class Node:
    value: object
    path: str
    ctx: Context

    def fail(self, reason: str) -> None:
        """Record a problem at this node. Returns None, so getters end with ``return fail(...)``."""
        self.ctx.problems.append((self.path, reason))

    def child(self, key, value=None) -> Node:
        return Node(value, join(self.path, key), self.ctx)

    def refers_to_cluster(self, name: str) -> None:
        self.ctx.cluster_refs.append((self.path, name))

    def items(self) -> list[Node]:
        if not isinstance(self.value, list):
            self.fail(f"expected a list, got {describe(self.value)}")
            return []
        return [Node(value, f"{self.path}[{index}]", self.ctx)
                for index, value in enumerate(self.value)]

    def message(self, fields: Fields) -> Message | None:
        if not isinstance(self.value, dict):
            self.fail(f"expected a mapping, got {describe(self.value)}")
            return None
        return Message(self, fields)

    def string(self, http_safe=False) -> str | None:
        """``http_safe``: the value ends up in an HTTP header, so NUL, CR and LF are rejected."""
        if not isinstance(self.value, str):
            return self.fail(f"expected a string, got {describe(self.value)}")
        if http_safe and _FORBIDDEN_IN_HEADERS.search(self.value):
            return self.fail(f"must not contain NUL, CR or LF, got {self.value!r}")
        return self.value

    def boolean(self) -> bool | None:
        if isinstance(self.value, str) and self.value.lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[self.value.lower()]
        if not isinstance(self.value, bool):
            return self.fail(f"expected a boolean, got {describe(self.value)}")
        return self.value

    def double(self) -> float | None:
        number = _double(self.value)
        if number is None:
            return self.fail(f"expected a number, got {describe(self.value)}")
        return number

    def uint32(self, minimum=0, maximum=UINT32_MAX) -> int | None:
        number = _integer(self.value)
        if number is None:
            return self.fail(f"expected an integer, got {describe(self.value)}")
        if not minimum <= number <= maximum:
            return self.fail(f"must be between {minimum} and {maximum}, got {number}")
        return number

    def duration(self) -> float | None:
        """Float seconds from proto3 JSON's ``"1.5s"`` or the message form ``{seconds, nanos}``."""
        seconds = _duration(self.value)
        shown = _as_written(self.value)
        if seconds is None:
            return self.fail(f"invalid duration {shown} (expected e.g. '0.25s')")
        if seconds < 0:
            return self.fail(f"negative duration {shown}")
        return seconds

    def enum(self, enum: Enum) -> str | None:
        # Envoy's JSON reader takes enum names in any case (``TLSv1_2`` as ``tlsv1_2``).
        name = self.value.upper() if isinstance(self.value, str) else self.value
        choices = ", ".join(enum.supported)
        for known in enum.supported:
            if known.upper() == name:
                return known
        for known in enum.unsupported:
            if known.upper() == name:
                return self.fail(f"'{known}' is {NOT_SUPPORTED} (supported: {choices})")
        return self.fail(f"unknown enum value {_as_written(self.value)} (expected one of {choices})")


class Message:
    """A mapping read as one proto message. Unknown and unsupported keys are reported on
    construction; a null value counts as unset, as in proto3 JSON."""

    def __init__(self, node: Node, fields: Fields):
        self.node = node
        self.fields = fields
        self._set: dict[str, Node] = {}
        for key, value in node.value.items():
            name = fields.canonical(key)
            child = node.child(key, value)
            if name is None and node.ctx.unknown_fields is not None:
                node.ctx.unknown_fields.append(child.path)
            elif name is None:
                child.fail(f"unknown field '{key}'")
            elif name in fields.unsupported:
                child.fail(NOT_SUPPORTED)
            elif name in self._set:
                child.fail(f"field '{name}' is set twice")
            elif value is not None:
                self._set[name] = child

    def get(self, name: str) -> Node | None:
        assert name in self.fields.supported, f"{name} is not declared in the message's Fields"
        return self._set.get(name)

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def at(self, name: str) -> Node:
        """The field's node when set, else a node at its path, e.g. to report it missing."""
        return self.get(name) or self.node.child(name)

    def one_of(self, *names, required=True) -> str | None:
        """The one field of a proto oneof that is set."""
        chosen = [name for name in names if self.has(name)]
        if len(chosen) > 1:
            self.node.fail(f"only one of {', '.join(names)} may be set, got {' and '.join(chosen)}")
        elif not chosen and required:
            self.node.fail(f"exactly one of {', '.join(names)} is required")
        return chosen[0] if chosen else None

    def string(self, name, default=None, *, required=False, non_empty=False, http_safe=False):
        """``required``: must be set and not empty; ``non_empty``: must not be empty when set."""
        value = self._read(name, lambda node: node.string(http_safe), required)
        if value == "" and (required or non_empty):
            self.at(name).fail("must not be empty")
            return default
        return default if value is None else value

    def boolean(self, name, default=None):
        value = self._read(name, Node.boolean)
        return default if value is None else value

    def uint32(self, name, default=None, *, required=False, minimum=0, maximum=UINT32_MAX):
        value = self._read(name, lambda node: node.uint32(minimum, maximum), required)
        return default if value is None else value

    def duration(self, name, default=None):
        value = self._read(name, Node.duration)
        return default if value is None else value

    def enum(self, name, enum: Enum, default=None):
        value = self._read(name, lambda node: node.enum(enum))
        return default if value is None else value

    def nested(self, name, parse, *, required=False):
        """``parse`` applied to the field's node, or None when the field is not set."""
        return self._read(name, parse, required)

    def items(self, name) -> list[Node]:
        node = self.get(name)
        return node.items() if node else []

    def repeated(self, name, parse) -> tuple:
        return parse_each(self.items(name), parse)

    def _read(self, name, convert, required=False):
        node = self.get(name)
        if node is None:
            if required:
                self.at(name).fail("required field is missing")
            return None
        return convert(node)


def typed_config(node: Node, parsers: dict) -> object | None:
    """A ``google.protobuf.Any``: its ``@type`` picks the parser for the rest of the mapping."""
    if not isinstance(node.value, dict):
        return node.fail(f"expected a mapping, got {describe(node.value)}")
    type_node = node.child("@type", node.value.get("@type"))
    if type_node.value is None:
        return type_node.fail("required field is missing")
    url = type_node.string()
    if url is None:
        return None
    if url not in parsers:
        expected = ", ".join(parsers)
        # Envoy's own types are known to Envoy; anything else is a typo or a foreign type.
        if url.startswith("type.googleapis.com/envoy."):
            return type_node.fail(f"type '{url}' is {NOT_SUPPORTED} here (supported: {expected})")
        return type_node.fail(f"unknown type URL '{url}' (expected one of {expected})")
    body = {key: value for key, value in node.value.items() if key != "@type"}
    return parsers[url](Node(body, node.path, node.ctx))


def _as_written(value) -> str:
    """A scalar quoted as the config has it ('5', '1ms'); a mapping as itself, shortened: a
    message quotes a value, never a whole subtree."""
    if isinstance(value, dict):
        return _shortened(value)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"'{value}'"
    return describe(value)


def _shortened(value, depth=2) -> str:
    if isinstance(value, dict):
        if depth == 0:
            return "{...}"
        shown = [f"{key!r}: {_shortened(item, depth - 1)}" for key, item in list(value.items())[:4]]
        return "{" + ", ".join(shown + ["..."] * (len(value) > 4)) + "}"
    if isinstance(value, list):
        return "[...]" if value else "[]"
    text = repr(value)
    return text if len(text) <= 40 else text[:36] + "...'"


def _integer(value) -> int | None:
    """proto3 JSON integers: numbers with no fraction, or strings holding one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if not isinstance(value, str):
        return None
    if _QUOTED_HEX.fullmatch(value):
        return int(value, 16) if len(value) < 64 else None     # longer: far beyond any range
    if not _QUOTED_NUMBER.fullmatch(value):
        return None
    number = decimal.Decimal(value)
    # Far beyond any field's range: not worth building the integer ("1e999999999").
    if number.adjusted() > 30 or number != number.to_integral_value():
        return None
    return int(number)


def _double(value) -> float | None:
    """proto3 JSON doubles: numbers, or strings holding one (surrounding spaces allowed)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and _QUOTED_NUMBER.fullmatch(value.strip()):
            return float(value)
    except OverflowError:       # an integer beyond any double
        pass
    return None


def _duration(value) -> float | None:
    if isinstance(value, str):
        seconds = float(value[:-1]) if _DURATION.fullmatch(value) else None
    elif isinstance(value, dict) and set(value) <= {"seconds", "nanos"}:
        whole, nanos = _integer(value.get("seconds", 0)), _integer(value.get("nanos", 0))
        valid = whole is not None and nanos is not None and abs(nanos) < 10**9
        seconds = whole + nanos / 10**9 if valid else None
    else:
        seconds = None
    if seconds is None or abs(seconds) > _MAX_DURATION_SECONDS:
        return None
    return seconds
