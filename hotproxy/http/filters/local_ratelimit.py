"""The local rate limit filter (envoy.filters.http.local_ratelimit), as Envoy 1.40's: a request
the filter is enabled for (``filter_enabled``) takes a token from the buckets of the descriptors
its route's ``rate_limits`` produce and that the config lists, and from the default bucket when
none matched or ``always_consume_default_token_bucket``. Without a token it is counted as
rate limited, and when the limit is enforced too (``filter_enforced``) answered with ``status``
(429) "local_rate_limited", flag RL; when not enforced it goes on with
``request_headers_to_add_when_not_enforced``. A ``runtime_key`` on filter_enabled or
filter_enforced is read in the layered runtime on each draw (its value, else the default_value).

Buckets are shared by every worker process (token_bucket.py), or kept per downstream connection
with ``local_rate_limit_per_downstream_connection``. A route's typed_per_filter_config replaces
the filter's config for its requests, with buckets of its own.

Stats: ``<stat_prefix>.http_local_rate_limit.{enabled,enforced,rate_limited,ok,shadow_mode}``,
the stat_prefix being the config's (the filter's or the route's).
"""
from __future__ import annotations

import random
import weakref
from functools import partial

from ...stats.schema import stat_set
from ...token_bucket import EPOCH, TokenBucket, shared_bucket
from ..header_mutation import compile_header_level
from .api import CONTINUE, FilterFactory, HttpFilter
from .rate_limit_descriptors import compile_rate_limits
from .route_policy import drawer

#: shadow_mode counts descriptors in shadow mode, which hotproxy refuses: it stays 0, as in Envoy
LocalRateLimitStats = stat_set("LocalRateLimitStats", ("enabled", "enforced", "rate_limited", "ok",
                                                       "shadow_mode"))

BODY = b"local_rate_limited"
DETAILS = "local_rate_limited"
X_LIMIT, X_REMAINING, X_RESET = b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"


def factory(config, context):
    return LocalRateLimitFactory(config, context)


class LocalRateLimitFactory(FilterFactory):
    def __init__(self, config, context, rng=None):
        self._rng = rng or random.Random()
        self._local_cluster = getattr(context.server, "service_cluster", "") or ""
        self._stats = {}             # stat_prefix → stats, shipped when declared up front
        self._route_limiters = {}    # id(per-route config) → (config, Limiter)
        self.limiter = self._limiter(config)
        for route_config in _per_route_configs(context.route_config):
            self._route_limiter(route_config)

    def _limiter(self, config):
        stats = self._stats.get(config.stat_prefix)
        if stats is None:
            stats = self._stats[config.stat_prefix] = LocalRateLimitStats()
        limiter = Limiter(config, stats, self._rng)
        # the filter of every stream when no x-ratelimit header is asked for: it keeps
        # nothing per stream then
        limiter.shared = None if limiter.x_headers else LocalRateLimitFilter(self, limiter)
        return limiter

    def _route_limiter(self, config):
        entry = self._route_limiters.get(id(config))
        if entry is None or entry[0] is not config:
            entry = self._route_limiters[id(config)] = (config, self._limiter(config))
        return entry[1]

    def stat_sets(self):
        return [(f"{prefix}.http_local_rate_limit.", stats) for prefix, stats in self._stats.items()]

    def create(self, stream):
        route_config = stream.route_config(self.name)
        return self._made(self.limiter if route_config is None
                          else self._route_limiter(route_config), stream)

    def for_route(self, config):
        """The limiter of the route's config (or the filter's own) is found once a route
        table; a limiter always enabled and asked for no x-ratelimit header has one filter for
        every stream."""
        limiter = self.limiter if config is None else self._route_limiter(config)
        if limiter.always_enabled and limiter.shared is not None:
            return limiter.shared, None
        return None, partial(self._made, limiter)

    def _made(self, limiter, stream):
        if not (limiter.always_enabled or limiter.enabled()):
            return None
        return limiter.shared or LocalRateLimitWithHeaders(self, limiter)


class Limiter:
    """One LocalRateLimit config, compiled: its buckets, headers and stats."""

    def __init__(self, config, stats, rng):
        self.config = config
        self.stats = stats
        self.status = config.status
        self.x_headers = config.x_ratelimit_headers
        self.has_descriptors = bool(config.descriptors)
        self._rng = rng
        self._enabled = drawer(config.filter_enabled, rng)
        enabled = config.filter_enabled
        # a runtime key may lower a default of 100%: only a plain fraction is always enabled
        self.always_enabled = type(enabled) is tuple and enabled[0] >= enabled[1]
        self._enforced = drawer(config.filter_enforced, rng)
        where = config.location
        self.response_headers = compile_header_level(config.response_headers_to_add, (), where,
                                                     "response")
        self.request_headers = compile_header_level(
            config.request_headers_to_add_when_not_enforced, (), where,
            "request_headers_to_add_when_not_enforced")
        self._buckets = None if config.per_connection else self._make_buckets(shared=True)
        self._per_connection = weakref.WeakKeyDictionary() if config.per_connection else None
        self._rate_limits = {}      # id(rate_limits tuple) → (tuple, describe)
        self.shared = None          # set by the factory
        # the one bucket every request takes from, when that is all there is to it: no
        # descriptors, buckets shared by the workers (allow() comes to its consume() then)
        self.only_bucket = (self._buckets[0] if self._buckets is not None and not config.descriptors
                            else None)

    def enabled(self):
        return self._enabled()

    def enforced(self):
        return self._enforced()

    def _make_buckets(self, shared):
        """(default bucket or None, {descriptor entries: bucket})."""
        config = self.config

        def bucket(which, bucket_config):
            if shared:
                return shared_bucket(config.bucket_key(which), bucket_config)
            return TokenBucket(bucket_config)
        default = bucket("default", config.token_bucket) if config.token_bucket else None
        return default, {item.entries: bucket(index, item.token_bucket)
                         for index, item in enumerate(config.descriptors)}

    def buckets(self, connection):
        if self._per_connection is None:
            return self._buckets
        buckets = self._per_connection.get(connection)
        if buckets is None:
            buckets = self._per_connection[connection] = self._make_buckets(shared=False)
        return buckets

    def describe(self, stream, local_cluster):
        """The request's descriptors from its route's (and virtual host's) rate_limits."""
        route = stream.route
        action = getattr(getattr(route, "config", None), "route", None)
        if action is None:
            return []
        own = action.rate_limits
        vhost = route.vhost_rate_limits
        option = "INCLUDE" if action.include_vh_rate_limits else self.config.vh_rate_limits
        descriptors = self._describer(own)(stream, local_cluster) if own else []
        if vhost and (option == "INCLUDE" or (option == "OVERRIDE" and not own)):
            descriptors += self._describer(vhost)(stream, local_cluster)
        return descriptors

    def _describer(self, rate_limits):
        entry = self._rate_limits.get(id(rate_limits))
        if entry is None or entry[0] is not rate_limits:
            entry = self._rate_limits[id(rate_limits)] = (
                rate_limits, compile_rate_limits(rate_limits, self.config.stage))
        return entry[1]

    def allow(self, buckets, descriptors):
        """(allowed, the bucket the x-ratelimit headers describe), as Envoy's
        LocalRateLimiterImpl::requestAllowed: the matched descriptors' buckets in order of
        their fill rate, slowest first, then the default bucket."""
        default, by_entries = buckets
        matched = [by_entries[d] for d in descriptors if d in by_entries] if by_entries else []
        if len(matched) > 1:
            matched.sort(key=lambda bucket: bucket.cost, reverse=True)
        for bucket in matched:
            if not bucket.consume():
                return False, bucket
        if not matched or self.config.always_consume_default_token_bucket:
            if default is None:         # no token_bucket: Envoy limits nothing more
                return True, matched[0] if matched else None
            if not default.consume():
                return False, default
            return True, matched[0] if matched else default
        return True, matched[0]

    def add_response_headers(self, headers, stream):
        if self.response_headers is None:
            return headers
        return self.response_headers.apply(list(headers), _HeaderContext(stream))


class LocalRateLimitFilter(HttpFilter):
    __slots__ = ("factory", "limiter")
    #: whether it keeps the bucket that decided, for the x-ratelimit headers (one per stream)
    keeps_bucket = False

    def __init__(self, factory, limiter):
        self.factory = factory
        self.limiter = limiter

    def decode_headers(self, stream, end_stream):
        limiter = self.limiter
        stats = limiter.stats
        stats.enabled += 1
        bucket = limiter.only_bucket
        if bucket is not None:     # bucket.consume(), written out: this runs for every request
            now = bucket.clock() + EPOCH
            allowed = bucket.cells.take(bucket.cost, now - bucket.burst, now)
        else:
            descriptors = (limiter.describe(stream, self.factory._local_cluster)
                           if limiter.has_descriptors else ())
            allowed, bucket = limiter.allow(limiter.buckets(stream.connection), descriptors)
        if self.keeps_bucket:
            self.bucket = bucket
        if allowed:
            stats.ok += 1
            return CONTINUE
        stats.rate_limited += 1
        if not limiter.enforced():
            if limiter.request_headers is not None:
                request = stream.request
                request.headers[:] = limiter.request_headers.apply(list(request.headers),
                                                                   _HeaderContext(stream))
            return CONTINUE
        stats.enforced += 1
        return stream.send_local_reply(limiter.status, BODY,
                                       headers=limiter.add_response_headers([], stream),
                                       details=DETAILS, flag="RL")


class LocalRateLimitWithHeaders(LocalRateLimitFilter):
    """One per stream: the response says what is left in the bucket that decided."""

    __slots__ = ("bucket",)
    keeps_bucket = True

    def encode_headers(self, stream, response, end_stream):
        bucket = self.bucket
        if bucket is not None:
            response.headers.extend(((X_LIMIT, b"%d" % bucket.max_tokens),
                                     (X_REMAINING, b"%d" % bucket.remaining()),
                                     (X_RESET, b"%d" % bucket.reset_seconds())))
        return CONTINUE


class _HeaderContext:
    """What header values with command operators (%DOWNSTREAM_REMOTE_ADDRESS% ...) read."""

    def __init__(self, stream):
        connection = stream.connection
        self.remote_ip = connection.remote_ip
        self.remote_address = f"{connection.remote_ip}:{getattr(connection, 'remote_port', 0)}"
        self.local_address = connection.local_address or ""
        self.local_ip = self.local_address.rpartition(":")[0].strip("[]")
        self.protocol = "HTTP/1.1"
        self.upstream_address = ""


def _per_route_configs(route_config):
    """The local_ratelimit configs of a RouteConfiguration's typed_per_filter_config entries
    (virtual hosts, routes, weighted clusters), so that their stats are declared up front."""
    if route_config is None:
        return []
    found = []
    owners = []
    for vhost in route_config.virtual_hosts:
        owners.append(vhost)
        for route in vhost.routes:
            owners.append(route)
            action = route.route
            owners.extend(action.weighted_clusters if action is not None else ())
    for owner in owners:
        for _, entry in owner.typed_per_filter_config:
            config = getattr(entry, "config", entry)
            if getattr(config, "runtime", None) == "local_ratelimit":
                found.append(config)
    return found
