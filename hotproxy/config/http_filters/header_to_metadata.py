"""Parser for the header-to-metadata filter (envoy.extensions.filters.http.header_to_metadata.v3
``Config``), both as the filter's config and per route: rules that turn a request or response
header (or a request cookie) into dynamic metadata."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fields import Enum, Fields, Node, present
from ..parse_route import regex_rewrite
from ..route import RegexRewrite

CONFIG = Fields("request_rules response_rules stat_prefix")
RULE = Fields("header cookie on_header_present on_header_missing remove")
KEY_VALUE_PAIR = Fields("metadata_namespace key value regex_value_rewrite type encode")
VALUE_TYPES = Enum("STRING NUMBER", unsupported="PROTOBUF_VALUE")
ENCODINGS = Enum("NONE BASE64")
DEFAULT_NAMESPACE = "envoy.filters.http.header_to_metadata"


@dataclass(frozen=True)
class KeyValuePair:
    key: str
    metadata_namespace: str = DEFAULT_NAMESPACE
    value: str = ""
    regex_value_rewrite: RegexRewrite | None = None
    type: str = "STRING"
    encode: str = "NONE"


@dataclass(frozen=True)
class Rule:
    """``header`` (lower-case) or ``cookie`` (read from the Cookie header, of a response too,
    as Envoy does)."""
    header: str | None = None
    cookie: str | None = None
    on_header_present: KeyValuePair | None = None
    on_header_missing: KeyValuePair | None = None
    remove: bool = False


@dataclass(frozen=True)
class Config:
    runtime: ClassVar[str] = "header_to_metadata"
    request_rules: tuple[Rule, ...] = ()
    response_rules: tuple[Rule, ...] = ()
    stat_prefix: str = ""


def parse(node: Node, per_route=False) -> Config | None:
    m = node.message(CONFIG)
    if m is None:
        return None
    request_rules = m.repeated("request_rules", rule)
    response_rules = m.repeated("response_rules", rule)
    if per_route and not m.has("request_rules") and not m.has("response_rules"):
        m.node.fail("a per-route config needs request_rules or response_rules")
    return Config(request_rules, response_rules, m.string("stat_prefix", ""))


def parse_per_route(node: Node) -> Config | None:
    return parse(node, per_route=True)


def rule(node: Node) -> Rule | None:
    m = node.message(RULE)
    if m is None:
        return None
    kind = m.one_of("header", "cookie")
    name = kind and m.string(kind, required=True, http_safe=True)
    present_pair = m.nested("on_header_present", key_value_pair)
    missing_pair = m.nested("on_header_missing", key_value_pair)
    remove = bool(m.boolean("remove"))
    if not m.has("on_header_present") and not m.has("on_header_missing"):
        m.node.fail("one of on_header_present and on_header_missing is required")
    if kind == "cookie" and remove:
        m.at("remove").fail("a cookie rule cannot remove the cookie")
    if missing_pair is not None and not missing_pair.value:
        m.at("on_header_missing").child("value").fail(
            "on_header_missing needs a value (there is no header value to use)")
    if not name:
        return None
    return Rule(**present(header=name.lower() if kind == "header" else None,
                          cookie=name if kind == "cookie" else None,
                          on_header_present=present_pair, on_header_missing=missing_pair),
                remove=remove)


def key_value_pair(node: Node) -> KeyValuePair | None:
    m = node.message(KEY_VALUE_PAIR)
    if m is None:
        return None
    key = m.string("key", required=True)
    value = m.string("value")
    rewrite = m.nested("regex_value_rewrite", regex_rewrite)
    if value and m.has("regex_value_rewrite"):
        m.node.fail("value and regex_value_rewrite are mutually exclusive")
    if key is None:
        return None
    return KeyValuePair(key=key, **present(
        metadata_namespace=m.string("metadata_namespace") or None, value=value,
        regex_value_rewrite=rewrite, type=m.enum("type", VALUE_TYPES),
        encode=m.enum("encode", ENCODINGS)))
