"""Parsers for the shared types of core.py: socket addresses, header mutations, string, regex,
header and query parameter matchers."""
from __future__ import annotations

import ipaddress
import re

from .core import (HeaderMatcher, HeaderValueOption, QueryParameterMatcher, SocketAddress,
                   StringMatcher)
from .fields import Enum, Fields, Node, present

ADDRESS = Fields("socket_address", unsupported="pipe envoy_internal_address")
SOCKET_ADDRESS = Fields(
    "address port_value protocol",
    unsupported="named_port resolver_name ipv4_compat network_namespace_filepath")
PROTOCOLS = Enum("TCP", unsupported="UDP")

HEADER_MUTATIONS = ("request_headers_to_add request_headers_to_remove "
                    "response_headers_to_add response_headers_to_remove")
HEADER_VALUE_OPTION = Fields("header append append_action keep_empty_value")
HEADER_VALUE = Fields("key value", unsupported="raw_value")
APPEND_ACTIONS = Enum(
    "APPEND_IF_EXISTS_OR_ADD ADD_IF_ABSENT OVERWRITE_IF_EXISTS_OR_ADD OVERWRITE_IF_EXISTS")

REGEX_MATCHER = Fields("regex google_re2")
GOOGLE_RE2 = Fields("", unsupported="max_program_size")
STRING_MATCHER = Fields("exact prefix suffix safe_regex contains ignore_case",
                        unsupported="custom")
HEADER_MATCHER = Fields(
    "name exact_match safe_regex_match present_match prefix_match suffix_match contains_match "
    "string_match invert_match treat_missing_header_as_empty",
    unsupported="range_match")
QUERY_PARAMETER_MATCHER = Fields("name string_match present_match")

# HeaderMatcher's deprecated specifiers, by the kind they map to (the rest is "present",
# "string_match", or "safe_regex" from safe_regex_match).
_HEADER_MATCH_KINDS = {"exact_match": "exact", "prefix_match": "prefix",
                       "suffix_match": "suffix", "contains_match": "contains"}


def address(node: Node, ip_only=True) -> SocketAddress | None:
    """A core.v3.Address holding a socket_address. ``ip_only``: the address must be an IP
    literal (listeners, admin, STATIC clusters), not a host name."""
    m = node.message(ADDRESS)
    if m is None:
        return None
    return m.nested("socket_address", lambda n: socket_address(n, ip_only), required=True)


def socket_address(node: Node, ip_only: bool) -> SocketAddress | None:
    m = node.message(SOCKET_ADDRESS)
    if m is None:
        return None
    host = m.string("address", required=True)
    if host and ip_only and not is_ip(host):
        m.at("address").fail(f"expected an IP address, got '{host}'")
    return SocketAddress(address=host, port=m.uint32("port_value", required=True, maximum=65535),
                         **present(protocol=m.enum("protocol", PROTOCOLS)))


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def header_mutations(m) -> dict:
    """The ``*_headers_to_add`` / ``*_headers_to_remove`` fields that route configurations,
    virtual hosts, routes and weighted clusters share, as dataclass keyword arguments."""
    return {
        "request_headers_to_add": m.repeated("request_headers_to_add", header_value_option),
        "request_headers_to_remove": m.repeated("request_headers_to_remove", header_to_remove),
        "response_headers_to_add": m.repeated("response_headers_to_add", header_value_option),
        "response_headers_to_remove": m.repeated("response_headers_to_remove", header_to_remove),
    }


def header_value_option(node: Node) -> HeaderValueOption | None:
    m = node.message(HEADER_VALUE_OPTION)
    if m is None:
        return None
    header = m.nested("header", lambda n: n.message(HEADER_VALUE), required=True)
    append_action = m.enum("append_action", APPEND_ACTIONS)
    append = m.boolean("append")
    if append is not None:
        if append_action is not None:
            m.node.fail("append and append_action are mutually exclusive")
        append_action = "APPEND_IF_EXISTS_OR_ADD" if append else "OVERWRITE_IF_EXISTS_OR_ADD"
    keep_empty_value = m.boolean("keep_empty_value")
    if header is None:
        return None
    key = header.string("key", required=True, http_safe=True)
    if key is not None and _is_protected(key):
        header.at("key").fail(":-prefixed or host headers may not be modified")
    return HeaderValueOption(key=key and key.lower(),
                             value=header.string("value", "", http_safe=True),
                             **present(append_action=append_action,
                                       keep_empty_value=keep_empty_value))


def header_to_remove(node: Node) -> str | None:
    name = node.string(http_safe=True)
    if name == "":
        node.fail("must not be empty")
    elif name is not None and _is_protected(name):
        node.fail(":-prefixed or host headers may not be removed")
    return name and name.lower()


def _is_protected(header: str) -> bool:
    """Envoy refuses to let header mutations touch pseudo-headers and Host."""
    return header.startswith(":") or header.lower() == "host"


def regex(node: Node) -> str | None:
    """A type.matcher.v3.RegexMatcher: its pattern, checked to compile with Python's ``re``."""
    m = node.message(REGEX_MATCHER)
    if m is None:
        return None
    # google_re2 names the only engine there is; older configs still carry an empty one.
    m.nested("google_re2", lambda n: n.message(GOOGLE_RE2))
    pattern = m.string("regex", required=True)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as error:
            m.at("regex").fail(f"invalid regex: {error}")
            return None
    return pattern


def string_matcher(node: Node) -> StringMatcher | None:
    m = node.message(STRING_MATCHER)
    if m is None:
        return None
    kind = m.one_of("exact", "prefix", "suffix", "safe_regex", "contains")
    if kind == "safe_regex":
        value = m.nested("safe_regex", regex)
    else:
        value = kind and m.string(kind, non_empty=kind != "exact")
    ignore_case = m.boolean("ignore_case")
    if kind == "safe_regex" and ignore_case is not None:
        m.at("ignore_case").fail("ignore_case has no effect for safe_regex")
    if value is None:
        return None
    return StringMatcher(kind=kind, value=value, **present(ignore_case=ignore_case))


def header_matcher(node: Node) -> HeaderMatcher | None:
    m = node.message(HEADER_MATCHER)
    if m is None:
        return None
    specifier = m.one_of(*_HEADER_MATCH_KINDS, "safe_regex_match", "present_match",
                         "string_match", required=False)
    kind, value, string_match = "present", True, None      # Envoy: no specifier → present
    if specifier == "safe_regex_match":
        kind, value = "safe_regex", m.nested(specifier, regex)
    elif specifier == "present_match":
        value = m.boolean(specifier)
    elif specifier == "string_match":
        kind, value, string_match = "string_match", None, m.nested(specifier, string_matcher)
    elif specifier is not None:
        kind = _HEADER_MATCH_KINDS[specifier]
        value = m.string(specifier, non_empty=kind != "exact")
    name = m.string("name", required=True, http_safe=True)
    return HeaderMatcher(name=name and name.lower(), kind=kind, value=value,
                         string_match=string_match,
                         **present(invert_match=m.boolean("invert_match"),
                                   treat_missing_header_as_empty=m.boolean(
                                       "treat_missing_header_as_empty")))


def query_parameter_matcher(node: Node) -> QueryParameterMatcher | None:
    m = node.message(QUERY_PARAMETER_MATCHER)
    if m is None:
        return None
    m.one_of("string_match", "present_match", required=False)
    return QueryParameterMatcher(name=m.string("name", required=True),
                                 string_match=m.nested("string_match", string_matcher),
                                 present_match=m.boolean("present_match"))


PERCENT = Fields("value")


def percent_value(node: Node) -> float | None:
    """envoy.type.v3.Percent: ``value`` in [0, 100]."""
    m = node.message(PERCENT)
    if m is None:
        return None
    value = m.nested("value", lambda n: n.double())
    if value is not None and not 0 <= value <= 100:
        m.at("value").fail(f"must be between 0 and 100, got {value:g}")
        return None
    return value if value is not None else 0.0
