"""What a matched route does: forward to a cluster, redirect, or answer directly.

- ``CompiledRoute``: one route with everything the request path needs precomputed.
- ``WeightedClusterEntry`` and the cluster pickers (static, weighted, ``cluster_header``).

Path rewriters and redirect locations are in rewrites.py.
"""
from __future__ import annotations

import random
from bisect import bisect_right

from ...errors import ConfigError
from ..header_mutation import compile_header_level, compile_mutation
from .per_filter import merged, route_level
from .rewrites import RedirectBuilder, make_path_rewriter, same_path
from .retry import RoutePolicy

ROUTE = "route"
REDIRECT = "redirect"
DIRECT_RESPONSE = "direct_response"


class CompiledRoute:
    """A route as the connection manager and router use it.

    Every attribute exists for every ``kind``; those of the other kinds hold None/False.
    ``pick_cluster(headers) -> (cluster_name | None, WeightedClusterEntry | None)``,
    ``rewrite_path(path) -> path`` (identity unless ``rewrites_path``),
    ``redirect_location(scheme, host, path) -> bytes`` and
    ``direct_location(scheme, host, path) -> bytes | None`` (Envoy sends a Location with direct
    responses whose status is 201 or 3xx) are plain callables chosen at construction.
    """

    __slots__ = ("kind", "name", "vhost_name", "config",
                 "cluster_name", "pick_cluster", "rewrites_path", "rewrite_path",
                 "host_rewrite_literal", "auto_host_rewrite", "timeout", "idle_timeout", "retry",
                 "request_hash", "mirrors", "extras", "makes_cookies", "starts_router",  # set by route_table
                 "redirect_status", "redirect_location",
                 "direct_status", "direct_body", "direct_location",
                 "has_request_mutations", "has_response_mutations",
                 "_mutate_request", "_mutate_response", "per_filter", "high_priority",
                 "vhost_rate_limits", "grpc_timeout_max", "grpc_timeout_offset")

    def __init__(self, route, vhost_name, where, outer_request_levels, outer_response_levels,
                 rng=random, vhost=None):
        self.kind = None
        self.name = route.name
        self.vhost_name = vhost_name
        self.config = route
        #: typed_per_filter_config by filter name (per_filter.py), None when there is none
        self.per_filter = route_level(vhost, route)
        #: the virtual host's rate_limits, for local_ratelimit's vh_rate_limits
        self.vhost_rate_limits = vhost.rate_limits if vhost is not None else ()
        self.cluster_name = self.pick_cluster = self.rewrite_path = None
        self.rewrites_path = self.auto_host_rewrite = False
        self.host_rewrite_literal = self.timeout = self.idle_timeout = self.retry = None
        self.request_hash = self.mirrors = None
        self.extras = self.makes_cookies = False    # extras: either is set
        #: a ROUTE without extras: its requests go straight to Router.start (the common case)
        self.starts_router = False
        self.high_priority = route.route is not None and route.route.priority == "HIGH"
        self.redirect_status = self.redirect_location = None
        self.direct_status = self.direct_body = self.direct_location = None

        request_levels = [compile_header_level(route.request_headers_to_add,
                                               route.request_headers_to_remove, where, "request"),
                          *outer_request_levels]
        response_levels = [compile_header_level(route.response_headers_to_add,
                                                route.response_headers_to_remove, where,
                                                "response"),
                           *outer_response_levels]
        self._mutate_request = compile_mutation(request_levels)
        self._mutate_response = compile_mutation(response_levels)
        weighted_entries = ()
        if route.route is not None:
            weighted_entries = self._init_forward(route.route, route.match, f"{where}.route",
                                                  request_levels, response_levels, rng)
            self.retry = _retry_policy(route, vhost, f"{where}.route.retry_policy")
        elif route.redirect is not None:
            self._init_redirect(route.redirect, route.match, f"{where}.redirect")
        elif route.direct_response is not None:
            self._init_direct_response(route.direct_response)
        else:
            raise ConfigError([(where, "route has none of route, redirect, direct_response")])
        self.has_request_mutations = (self._mutate_request is not None
                                      or any(e.mutate_request for e in weighted_entries))
        self.has_response_mutations = (self._mutate_response is not None
                                       or any(e.mutate_response for e in weighted_entries))

    def _init_forward(self, action, match, where, request_levels, response_levels, rng):
        self.kind = ROUTE
        entries = ()
        if action.cluster:
            self.cluster_name = action.cluster
            static_pick = (action.cluster, None)
            self.pick_cluster = lambda headers: static_pick
        elif action.weighted_clusters:
            entries = tuple(
                WeightedClusterEntry(cluster, f"{where}.weighted_clusters.clusters[{i}]",
                                     request_levels, response_levels, self.per_filter)
                for i, cluster in enumerate(action.weighted_clusters))
            self.pick_cluster = WeightedPicker(entries, f"{where}.weighted_clusters", rng).pick
        elif action.cluster_header:
            self.pick_cluster = _cluster_header_picker(action.cluster_header.encode())
        else:
            raise ConfigError([(where, "route action has no cluster specifier")])
        rewriter = make_path_rewriter(match, action.prefix_rewrite, action.regex_rewrite, where)
        self.rewrites_path = rewriter is not None
        self.rewrite_path = rewriter or same_path
        if action.host_rewrite_literal:
            self.host_rewrite_literal = action.host_rewrite_literal.encode()
        self.auto_host_rewrite = action.auto_host_rewrite
        self.timeout = action.timeout
        self.idle_timeout = action.idle_timeout
        self.grpc_timeout_max = action.grpc_timeout_max
        self.grpc_timeout_offset = action.grpc_timeout_offset
        return entries

    def _init_redirect(self, redirect, match, where):
        self.kind = REDIRECT
        self.redirect_status = redirect.response_code
        self.redirect_location = RedirectBuilder(redirect, match, where).location

    def _init_direct_response(self, direct):
        self.kind = DIRECT_RESPONSE
        self.direct_status = direct.status
        self.direct_body = direct.body
        if direct.status == 201 or 300 <= direct.status < 400:
            self.direct_location = RedirectBuilder(None, None, "").location
        else:
            self.direct_location = lambda scheme, host, path: None

    def mutate_request(self, headers, weighted_entry, ctx):
        """Apply the request header mutations; returns the (possibly new) header list."""
        mutate = self._mutate_request if weighted_entry is None else weighted_entry.mutate_request
        return headers if mutate is None else mutate(headers, ctx)

    def mutate_response(self, headers, weighted_entry, ctx):
        """Apply the response header mutations; returns the (possibly new) header list."""
        mutate = self._mutate_response if weighted_entry is None else weighted_entry.mutate_response
        return headers if mutate is None else mutate(headers, ctx)

    def __repr__(self):
        return f"<CompiledRoute {self.kind} {self.vhost_name}/{self.name}>"


def _retry_policy(route, vhost, where):
    """The route's RoutePolicy, or None when neither it nor its virtual host asks for retries
    or attempt counts (then requests take the router's plain path)."""
    policy = route.route.retry_policy
    if policy is None and vhost is not None:
        policy = vhost.retry_policy
    counts = vhost is not None and (vhost.include_request_attempt_count
                                    or vhost.include_attempt_count_in_response)
    if policy is None and not counts:
        return None
    limit = route.per_request_buffer_limit_bytes
    if limit is None and vhost is not None:
        limit = vhost.per_request_buffer_limit_bytes
    return RoutePolicy(policy, counts and vhost.include_request_attempt_count,
                       counts and vhost.include_attempt_count_in_response, limit, where)


# --- cluster selection -------------------------------------------------------------------------

class WeightedClusterEntry:
    """One of ``weighted_clusters.clusters``; its header mutations run before the route's."""

    __slots__ = ("name", "weight", "mutate_request", "mutate_response", "per_filter")

    def __init__(self, cluster, where, route_request_levels, route_response_levels,
                 route_per_filter=None):
        self.name = cluster.name
        self.weight = cluster.weight
        self.per_filter = merged(route_per_filter, cluster.typed_per_filter_config)
        self.mutate_request = compile_mutation([
            compile_header_level(cluster.request_headers_to_add, cluster.request_headers_to_remove,
                                 where, "request"),
            *route_request_levels])
        self.mutate_response = compile_mutation([
            compile_header_level(cluster.response_headers_to_add,
                                 cluster.response_headers_to_remove, where, "response"),
            *route_response_levels])

    def __repr__(self):
        return f"<WeightedClusterEntry {self.name} weight={self.weight}>"


class WeightedPicker:
    """Chooses an entry with probability weight / total, as Envoy does per request."""

    __slots__ = ("_picks", "_bounds", "_total", "_random")

    def __init__(self, entries, where, rng):
        bounds = []
        total = 0
        for entry in entries:
            total += entry.weight
            bounds.append(total)
        if total <= 0:
            raise ConfigError([(where, "Sum of weights in the weighted_cluster must be greater "
                                       "than 0.")])
        self._picks = tuple((entry.name, entry) for entry in entries)
        self._bounds = bounds
        self._total = total
        self._random = rng.random

    def pick(self, headers):
        # bisect_right skips zero-weight entries: their bound equals the previous one
        return self._picks[bisect_right(self._bounds, self._random() * self._total)]


def _cluster_header_picker(header_name):
    """Envoy uses the first value of the header; a missing or empty one names no cluster."""
    def pick(headers):
        for name, value in headers:
            if name == header_name:
                return (value.decode("latin-1") or None, None)
        return (None, None)
    return pick


# --- path rewriting ----------------------------------------------------------------------------
