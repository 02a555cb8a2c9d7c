"""The CORS filter (envoy.filters.http.cors) as in Envoy 1.40: the policy is a route's (or its
virtual host's) CorsPolicy. A request with an Origin is counted in ``cors.origin_valid`` or
``cors.origin_invalid``; unless the policy is only shadow-enabled, a preflight (OPTIONS with
Access-Control-Request-Method) is answered here with 200 and the policy's headers, and the
response to any other CORS request with an allowed origin gets Access-Control-Allow-Origin,
-Allow-Credentials and -Expose-Headers.

hotproxy reads the most specific CorsPolicy only; Envoy takes each field from the most specific
level that sets it (docs/envoy-reference.md)."""
from __future__ import annotations

from operator import itemgetter

from ...matching import compile_string_matcher
from ...stats.schema import stat_set
from .api import CONTINUE, FilterFactory, HttpFilter, header_value, set_header
from .route_policy import CompiledCache, drawer

CorsStats = stat_set("CorsStats", ("origin_invalid", "origin_valid"))

ALLOW_ORIGIN = b"access-control-allow-origin"
ALLOW_CREDENTIALS = b"access-control-allow-credentials"
ALLOW_METHODS = b"access-control-allow-methods"
ALLOW_HEADERS = b"access-control-allow-headers"
EXPOSE_HEADERS = b"access-control-expose-headers"
MAX_AGE = b"access-control-max-age"
ALLOW_PRIVATE_NETWORK = b"access-control-allow-private-network"
REQUEST_METHOD = b"access-control-request-method"
REQUEST_HEADERS = b"access-control-request-headers"
REQUEST_PRIVATE_NETWORK = b"access-control-request-private-network"
#: the response headers the filter sets: when the response has none of them, it appends
RESPONSE_NAMES = frozenset((ALLOW_ORIGIN, ALLOW_CREDENTIALS, EXPOSE_HEADERS))
_name_of = itemgetter(0)
#: past this many origins, a policy's filter cache starts over
_MAX_ORIGINS = 256


def factory(config, context):
    return CorsFactory(context.stat_prefix)


class Policy:
    """A CorsPolicy compiled: origin tests and header values as bytes."""

    __slots__ = ("origin_tests", "allow_methods", "allow_headers", "expose_headers", "max_age",
                 "allow_credentials", "filter_enabled", "always_enabled", "shadow_enabled",
                 "draw_enabled", "draw_shadow", "allow_private_network_access",
                 "forward_not_matching_preflights", "any_origin", "exact_origins",
                 "response_after_origin", "by_origin",
                 "stats")   # the factory's CorsStats, set by it

    def __init__(self, config):
        self.origin_tests = tuple(
            compile_string_matcher(matcher, f"allow_origin_string_match[{index}]")
            for index, matcher in enumerate(config.allow_origin_string_match))
        self.allow_methods = config.allow_methods.encode()
        self.allow_headers = config.allow_headers.encode()
        self.expose_headers = config.expose_headers.encode()
        self.max_age = config.max_age.encode()
        self.allow_credentials = config.allow_credentials
        self.filter_enabled = enabled = config.filter_enabled
        # a runtime key may lower a default of 100%: only a plain fraction is always enabled
        self.always_enabled = type(enabled) is tuple and enabled[0] >= enabled[1]
        self.shadow_enabled = config.shadow_enabled
        self.draw_enabled = drawer(enabled)
        self.draw_shadow = drawer(config.shadow_enabled)
        self.allow_private_network_access = config.allow_private_network_access
        self.forward_not_matching_preflights = config.forward_not_matching_preflights
        # A matcher that matches "*" allows every origin, as in Envoy.
        self.any_origin = any(test(b"*") for test in self.origin_tests)
        #: the allowed origins when every matcher is a case-sensitive exact one (the usual
        #: policy): a set lookup decides then; None otherwise
        self.exact_origins = None
        matchers = config.allow_origin_string_match
        if not self.any_origin and all(m.kind == "exact" and not m.ignore_case for m in matchers):
            self.exact_origins = frozenset(m.value.encode() for m in matchers)
        #: what an allowed CORS request's response gets after Access-Control-Allow-Origin
        self.response_after_origin = (
            ((ALLOW_CREDENTIALS, b"true"),) if self.allow_credentials else ()) + (
            ((EXPOSE_HEADERS, self.expose_headers),) if self.expose_headers else ())
        #: origin → the CorsFilter of every request with it, for an always enabled policy (a
        #: CorsFilter keeps nothing of a request but its origin: none is made per request)
        self.by_origin = {}

    def filter_for(self, stream):
        """The CORS filter of a request under this policy, None for a request without an Origin
        (no CORS request: nothing to count or to add) or one the policy's fractions leave out."""
        for name, origin in stream.request.headers:
            if name == b"origin":
                break
        else:
            return None
        if not origin:
            return None
        if self.always_enabled:
            return self.by_origin.get(origin) or self._filter_of(origin)
        enabled = self.draw_enabled()
        if not enabled and not self.draw_shadow():
            return None
        return self.filter_of(origin, enabled)

    def _filter_of(self, origin):
        """The shared filter of an always enabled policy's requests from ``origin``."""
        by_origin = self.by_origin
        if len(by_origin) >= _MAX_ORIGINS:
            by_origin.clear()   # a client making origins up only churns the cache
        made = by_origin[origin] = self.filter_of(origin, True, SharedCorsFilter)
        return made

    def filter_of(self, origin, enabled, kind=None):
        """The filter of a request from ``origin``: whether the policy allows it is worked out
        here, once."""
        made = (kind or CorsFilter)()     # no __init__ to run
        made.policy, made.stats, made.enabled, made.origin = self, self.stats, enabled, origin
        made.allowed = allowed = self.origin_allowed(origin)
        made.allowed_origin = origin if enabled and allowed else None
        return made

    def origin_allowed(self, origin):
        if self.any_origin:
            return True
        exact = self.exact_origins
        if exact is not None:
            return origin in exact
        for test in self.origin_tests:
            if test(origin):
                return True
        return False


class CorsFactory(FilterFactory):
    def __init__(self, stat_prefix):
        self.name = ""
        self.stats = CorsStats()
        self._prefix = f"{stat_prefix}cors."
        self._policies = CompiledCache(Policy)
        self._last = (None, None)   # (config, its filter_for) of the last one asked

    def stat_sets(self):
        return ((self._prefix, self.stats),)

    def create(self, stream):
        config = stream.route_config(self.name)
        return self._policy(config)(stream) if config is not None else None

    def for_route(self, config):
        """A route without a CorsPolicy has no CORS filter; one with makes one for each CORS
        request (one with an Origin) that the policy's filter_enabled or shadow_enabled draws."""
        if config is None:
            return None, None
        return None, self._policy(config)

    def _policy(self, config):
        """The ``make(stream)`` of a CorsPolicy config (compiled once)."""
        last = self._last
        if last[0] is config:
            return last[1]
        policy = self._policies.get(config)
        if getattr(policy, "stats", None) is not self.stats:
            policy.stats = self.stats
            policy.by_origin.clear()    # its filters count in the stats they were made with
        self._last = (config, policy.filter_for)
        return policy.filter_for


class CorsFilter(HttpFilter):
    """The CORS filter of a request's origin under one policy. Nothing here changes once made:
    an always enabled policy gives every request from the same origin the same filter."""

    #: allowed: the policy allows the origin; allowed_origin: the origin when the policy is
    #: also enforced for the request (what the response then says), else None
    __slots__ = ("policy", "stats", "enabled", "origin", "allowed", "allowed_origin")

    def decode_headers(self, stream, end_stream):
        if self.allowed:
            self.stats.origin_valid += 1
        else:
            self.stats.origin_invalid += 1
        request = stream.request
        if not self.enabled or request.method != b"OPTIONS":
            return CONTINUE
        method = header_value(request.headers, REQUEST_METHOD)
        if not method:
            return CONTINUE
        if not self.allowed and self.policy.forward_not_matching_preflights:
            return CONTINUE
        return stream.send_local_reply(200, b"", headers=self._preflight_headers(request, method),
                                       details="cors_response")

    def _preflight_headers(self, request, method):
        policy = self.policy
        headers = []
        if self.allowed_origin is not None:
            headers.append((ALLOW_ORIGIN, self.allowed_origin))
        if policy.allow_credentials:
            headers.append((ALLOW_CREDENTIALS, b"true"))
        if policy.allow_methods:
            headers.append((ALLOW_METHODS, method if policy.allow_methods == b"*"
                            else policy.allow_methods))
        if policy.allow_headers:
            asked = header_value(request.headers, REQUEST_HEADERS) or b""
            headers.append((ALLOW_HEADERS, asked if policy.allow_headers == b"*"
                            else policy.allow_headers))
        if policy.max_age:
            headers.append((MAX_AGE, policy.max_age))
        if (policy.allow_private_network_access
                and header_value(request.headers, REQUEST_PRIVATE_NETWORK) == b"true"):
            headers.append((ALLOW_PRIVATE_NETWORK, b"true"))
        return headers

    def encode_headers(self, stream, response, end_stream):
        origin = self.allowed_origin
        if origin is None:
            return CONTINUE
        headers = response.headers
        policy = self.policy
        if RESPONSE_NAMES.isdisjoint(map(_name_of, headers)):
            headers.append((ALLOW_ORIGIN, origin))
            headers += policy.response_after_origin
            return CONTINUE
        set_header(headers, ALLOW_ORIGIN, origin)
        if policy.allow_credentials:
            set_header(headers, ALLOW_CREDENTIALS, b"true")
        if policy.expose_headers:
            set_header(headers, EXPOSE_HEADERS, policy.expose_headers)
        return CONTINUE


class SharedCorsFilter(CorsFilter):
    """The CorsFilter of an always enabled policy's requests from one origin."""

    __slots__ = ()
    shared_by_streams = True
