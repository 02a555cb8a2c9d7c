"""Shared Envoy API types (envoy.config.core.v3, envoy.type.matcher.v3) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SocketAddress:
    """``address.socket_address``. ``address`` is an IP literal or, for clusters, a DNS name."""
    address: str
    port: int
    protocol: str = "TCP"

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.address


@dataclass(frozen=True)
class HeaderValueOption:
    """``request_headers_to_add`` / ``response_headers_to_add`` entry.

    ``append_action`` is one of APPEND_IF_EXISTS_OR_ADD, ADD_IF_ABSENT,
    OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS (the deprecated ``append`` bool is mapped onto
    it: true → APPEND_IF_EXISTS_OR_ADD, false → OVERWRITE_IF_EXISTS_OR_ADD).
    ``key`` is lower-cased.
    """
    key: str
    value: str
    append_action: str = "APPEND_IF_EXISTS_OR_ADD"
    keep_empty_value: bool = False


@dataclass(frozen=True)
class StringMatcher:
    """envoy.type.matcher.v3.StringMatcher: exactly one of the kinds.

    ``kind`` is one of "exact", "prefix", "suffix", "contains", "safe_regex"; ``value`` the string
    (for safe_regex the RE2 pattern text).
    """
    kind: str
    value: str
    ignore_case: bool = False


@dataclass(frozen=True)
class HeaderMatcher:
    """route.v3.HeaderMatcher. ``name`` is lower-cased.

    ``kind`` is one of "exact", "prefix", "suffix", "contains", "safe_regex", "present",
    "string_match" (then ``string_match`` holds the StringMatcher). For "present" ``value`` is
    the bool as given (present_match: false matches an absent header).
    """
    name: str
    kind: str
    value: object = None
    string_match: StringMatcher | None = None
    invert_match: bool = False
    treat_missing_header_as_empty: bool = False


@dataclass(frozen=True)
class QueryParameterMatcher:
    """route.v3.QueryParameterMatcher: ``string_match`` or ``present_match`` (None/True)."""
    name: str
    string_match: StringMatcher | None = None
    present_match: bool | None = None
