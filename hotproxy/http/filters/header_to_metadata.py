"""The header-to-metadata filter (envoy.filters.http.header_to_metadata) as in Envoy 1.40: each
rule reads a request (or response) header, or a request cookie, and sets dynamic metadata from
it (on_header_present) or from its own value when it is missing (on_header_missing); ``remove``
drops the header afterwards. The route's Config, when it has one, replaces the filter's.

With a stat_prefix it counts under ``http_filter_name.<stat_prefix>.`` as Envoy does; the rules of
a route's Config count there too (hotproxy does not read a per-route stat_prefix)."""
from __future__ import annotations

import base64
import binascii
import re

from ...matching import compile_regex
from ...stats.schema import stat_set
from .api import CONTINUE, FilterFactory, HttpFilter
from .route_policy import CompiledCache, route_config

HeaderToMetadataStats = stat_set("HeaderToMetadataStats", (
    "request_rules_processed", "response_rules_processed",
    "request_metadata_added", "response_metadata_added",
    "request_header_not_found", "response_header_not_found",
    "base64_decode_failed", "header_value_too_long", "regex_substitution_failed",
))

MAX_VALUE_LENGTH = 8 * 1024                     # Envoy's MAX_HEADER_VALUE_LEN
_NUMBER = re.compile(rb"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|infinity|nan)", re.I)


def factory(config, context):
    return HeaderToMetadataFactory(config)


class _Pair:
    """A compiled KeyValuePair."""

    __slots__ = ("namespace", "key", "value", "rewrite", "number", "base64")

    def __init__(self, pair, where):
        self.namespace = pair.metadata_namespace
        self.key = pair.key
        self.value = pair.value.encode()
        self.rewrite = None
        if pair.regex_value_rewrite is not None:
            pattern = compile_regex(pair.regex_value_rewrite.pattern,
                                    f"{where}.regex_value_rewrite.pattern")
            self.rewrite = (pattern, pair.regex_value_rewrite.substitution.encode())
        self.number = pair.type == "NUMBER"
        self.base64 = pair.encode == "BASE64"


class _Rule:
    __slots__ = ("header", "cookie", "on_present", "on_missing", "remove")

    def __init__(self, rule, where):
        self.header = rule.header and rule.header.encode()
        self.cookie = rule.cookie and rule.cookie.encode()
        self.on_present = rule.on_header_present and _Pair(rule.on_header_present,
                                                           f"{where}.on_header_present")
        self.on_missing = rule.on_header_missing and _Pair(rule.on_header_missing,
                                                           f"{where}.on_header_missing")
        self.remove = rule.remove

    def extract(self, headers):
        """The header's values joined with ",", or the cookie's value; None when missing."""
        if self.cookie is not None:
            return cookie_value(headers, self.cookie)
        values = [value for name, value in headers if name == self.header]
        if not values:
            return None
        if self.remove:
            headers[:] = [pair for pair in headers if pair[0] != self.header]
        return b",".join(values)


def cookie_value(headers, name):
    """The value of cookie ``name`` in the Cookie headers (quotes removed), None when it is
    missing or empty (as Envoy's parseCookieValue)."""
    for header, value in headers:
        if header != b"cookie":
            continue
        for part in value.split(b";"):
            key, equals, cookie = part.lstrip(b" ").partition(b"=")
            if equals and key == name:
                if len(cookie) >= 2 and cookie[:1] == b'"' and cookie[-1:] == b'"':
                    cookie = cookie[1:-1]
                return cookie or None
    return None


class _Rules(HttpFilter):
    """One Config compiled; it is the filter itself (it keeps no per-stream state)."""

    def __init__(self, config, stats):
        self.request = tuple(_Rule(rule, f"request_rules[{index}]")
                             for index, rule in enumerate(config.request_rules))
        self.response = tuple(_Rule(rule, f"response_rules[{index}]")
                              for index, rule in enumerate(config.response_rules))
        self.stats = stats

    def decode_headers(self, stream, end_stream):
        if self.request:
            self._write(stream, stream.request.headers, self.request, "request_")
        return CONTINUE

    def encode_headers(self, stream, response, end_stream):
        if self.response:
            self._write(stream, response.headers, self.response, "response_")
        return CONTINUE

    def _write(self, stream, headers, rules, direction):
        stats = self.stats
        for rule in rules:
            value = rule.extract(headers)
            if stats is not None:
                _count(stats, direction + "rules_processed")
            if value is not None and rule.on_present is not None:
                self._apply(stream, value, rule.on_present, direction)
            elif value is None and rule.on_missing is not None:
                if stats is not None:
                    _count(stats, direction + "header_not_found")
                self._apply(stream, b"", rule.on_missing, direction)

    def _apply(self, stream, value, pair, direction):
        stats = self.stats
        if pair.value:
            value = pair.value
        elif pair.rewrite is not None:
            pattern, substitution = pair.rewrite
            rewritten = pattern.sub(substitution, value)
            if value and not rewritten and stats is not None:
                stats.regex_substitution_failed += 1
            value = rewritten
        if not value:
            return
        converted = self._convert(value, pair)
        if converted is None:
            return
        stream.info.set_metadata(pair.namespace, pair.key, converted)
        if stats is not None:
            _count(stats, direction + "metadata_added")

    def _convert(self, value, pair):
        stats = self.stats
        if len(value) >= MAX_VALUE_LENGTH:
            if stats is not None:
                stats.header_value_too_long += 1
            return None
        if pair.base64:
            value = _base64(value)
            if not value:
                if stats is not None:
                    stats.base64_decode_failed += 1
                return None
        if pair.number:
            number = value.strip()
            return float(number) if _NUMBER.fullmatch(number) else None
        return value.decode("utf-8", "surrogateescape")


def _count(stats, name):
    setattr(stats, name, getattr(stats, name) + 1)


def _base64(value):
    """Envoy's Base64::decodeWithoutPadding: padding optional; b"" when it is not base64."""
    value = value.rstrip(b"=")
    try:
        return base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""


class HeaderToMetadataFactory(FilterFactory):
    def __init__(self, config):
        self.name = ""
        self.stats = HeaderToMetadataStats() if config.stat_prefix else None
        self._prefix = f"http_filter_name.{config.stat_prefix}."
        self._rules = _Rules(config, self.stats)
        self._per_route = CompiledCache(lambda per_route: _Rules(per_route, self.stats))

    def stat_sets(self):
        return ((self._prefix, self.stats),) if self.stats is not None else ()

    def create(self, stream):
        config = route_config(stream, self.name)
        rules = self._rules if config is None else self._per_route.get(config)
        return rules if rules.request or rules.response else None
