"""The CSRF filter (envoy.filters.http.csrf) as in Envoy 1.40: a POST, PUT, DELETE or PATCH
whose source origin (the Origin header's host and port, else the Referer's) is neither the
destination (the Host) nor one of additional_origins is answered 403 "Invalid origin", unless
the policy is only shadow-enabled. Counted in ``csrf.missing_source_origin``,
``csrf.request_invalid`` and ``csrf.request_valid``."""
from __future__ import annotations

import re

from ...matching import compile_string_matcher
from ...stats.schema import stat_set
from .api import CONTINUE, FilterFactory, HttpFilter, header_value
from .route_policy import CompiledCache, drawer, route_config

CsrfStats = stat_set("CsrfStats", ("missing_source_origin", "request_invalid", "request_valid"))

MUTATING_METHODS = frozenset((b"POST", b"PUT", b"DELETE", b"PATCH"))
# An absolute URL (Envoy's Http::Utility::Url): scheme "://" [userinfo "@"] host [":" port].
_ABSOLUTE_URL = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/?#@]*@)?([^/?#@]+)")


def factory(config, context):
    return CsrfFactory(config, context.stat_prefix)


def host_and_port(value):
    """The host[:port] of an absolute URL; any other value as it is (Envoy compares the Host
    header, which is no URL, that way)."""
    if not value:
        return b""
    url = _ABSOLUTE_URL.match(value)
    return url[1] if url else value


class Policy:
    __slots__ = ("filter_enabled", "shadow_enabled", "draw_enabled", "draw_shadow",
                 "origin_tests")

    def __init__(self, config):
        self.filter_enabled = config.filter_enabled
        self.shadow_enabled = config.shadow_enabled
        self.draw_enabled = drawer(config.filter_enabled)
        self.draw_shadow = drawer(config.shadow_enabled)
        self.origin_tests = tuple(
            compile_string_matcher(matcher, f"additional_origins[{index}]")
            for index, matcher in enumerate(config.additional_origins))


class CsrfFactory(FilterFactory):
    def __init__(self, config, stat_prefix):
        self.name = ""
        self.stats = CsrfStats()
        self._prefix = f"{stat_prefix}csrf."
        self._policies = CompiledCache(Policy)
        self._policy = self._policies.get(config)
        self._filter = CsrfFilter(self)

    def stat_sets(self):
        return ((self._prefix, self.stats),)

    def create(self, stream):
        return self._filter if stream.request.method in MUTATING_METHODS else None

    def policy_for(self, stream):
        config = route_config(stream, self.name)
        return self._policy if config is None else self._policies.get(config)


class CsrfFilter(HttpFilter):
    """Shared by every stream: it keeps no state of its own."""

    __slots__ = ("factory",)

    def __init__(self, factory_):
        self.factory = factory_

    def decode_headers(self, stream, end_stream):
        policy = self.factory.policy_for(stream)
        enabled = policy.draw_enabled()
        if not enabled and not policy.draw_shadow():
            return CONTINUE
        stats = self.factory.stats
        headers = stream.request.headers
        source = (host_and_port(header_value(headers, b"origin"))
                  or host_and_port(header_value(headers, b"referer")))
        # Envoy 1.40 counts a request without a source origin as missing, not as invalid too.
        if not source:
            stats.missing_source_origin += 1
        elif source == host_and_port(stream.request.host) or any(
                test(source) for test in policy.origin_tests):
            stats.request_valid += 1
            return CONTINUE
        else:
            stats.request_invalid += 1
        if not enabled:
            return CONTINUE
        return stream.send_local_reply(403, b"Invalid origin", details="csrf_origin_mismatch")
