"""What a matched route does: forward to a cluster, redirect, or answer directly.

- ``CompiledRoute``: one route with everything the request path needs precomputed.
- ``WeightedClusterEntry`` and the cluster pickers (static, weighted, ``cluster_header``).
- Path rewriters (``prefix_rewrite``, ``regex_rewrite``) that keep the query string.
- ``RedirectBuilder``: the ``location`` of a redirect, built the way Envoy's
  ``Http::Utility::newUri`` builds it.
"""
from __future__ import annotations

import random
from bisect import bisect_right

from ...errors import ConfigError
from ..header_mutation import compile_header_level, compile_mutation
from .per_filter import merged, route_level
from .retry import RoutePolicy
from ...matching import can_match_empty, compile_regex

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
                 "request_hash", "mirrors", "extras", "makes_cookies",  # set by route_table
                 "redirect_status", "redirect_location",
                 "direct_status", "direct_body", "direct_location",
                 "has_request_mutations", "has_response_mutations",
                 "_mutate_request", "_mutate_response", "per_filter")

    def __init__(self, route, vhost_name, where, outer_request_levels, outer_response_levels,
                 rng=random, vhost=None):
        self.kind = None
        self.name = route.name
        self.vhost_name = vhost_name
        self.config = route
        #: typed_per_filter_config by filter name (per_filter.py), None when there is none
        self.per_filter = route_level(vhost, route)
        self.cluster_name = self.pick_cluster = self.rewrite_path = None
        self.rewrites_path = self.auto_host_rewrite = False
        self.host_rewrite_literal = self.timeout = self.idle_timeout = self.retry = None
        self.request_hash = self.mirrors = None
        self.extras = self.makes_cookies = False    # extras: either is set
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
        self.rewrite_path = rewriter or _same_path
        if action.host_rewrite_literal:
            self.host_rewrite_literal = action.host_rewrite_literal.encode()
        self.auto_host_rewrite = action.auto_host_rewrite
        self.timeout = action.timeout
        self.idle_timeout = action.idle_timeout
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


def _same_path(path):
    return path


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

def _path_end(path):
    """Index where the path proper ends: at the first '?' or '#'."""
    end = path.find(b"?")
    if end < 0:
        end = len(path)
    fragment = path.find(b"#", 0, end)
    return end if fragment < 0 else fragment


def make_path_rewriter(match, prefix_rewrite, regex_rewrite, where):
    """``rewrite(path) -> path`` for a route/redirect, or None when it rewrites nothing.

    ``prefix_rewrite`` replaces what the route matched: the configured prefix or path, or the
    whole path for ``safe_regex`` routes. Both rewrites leave the query string alone. An empty
    ``prefix_rewrite`` is unset, as in proto3.
    """
    if prefix_rewrite and regex_rewrite is not None:
        raise ConfigError([(where, "only one of prefix_rewrite and regex_rewrite may be set")])
    if prefix_rewrite:
        replacement = prefix_rewrite.encode()
        if match.path_kind == "safe_regex":
            return lambda path: replacement + path[_path_end(path):]
        matched_length = len(match.path_value.encode())
        return lambda path: replacement + path[matched_length:]
    if regex_rewrite is not None:
        regex = compile_regex(regex_rewrite.pattern, f"{where}.regex_rewrite.pattern.regex")
        replace = _re2_global_replace(regex, regex_rewrite.substitution.encode())

        def rewrite(path):
            end = _path_end(path)
            return replace(path[:end]) + path[end:]
        return rewrite
    return None


def _parse_substitution(substitution, group_count):
    """RE2 rewrite string → list of literal bytes and group numbers, or None when RE2 would
    refuse it (a group the pattern lacks). RE2 stops a rewrite at an invalid escape."""
    pieces = []
    literal = bytearray()
    i, n = 0, len(substitution)
    while i < n:
        c = substitution[i]
        if c != 0x5C:  # backslash
            literal.append(c)
            i += 1
            continue
        escaped = substitution[i + 1] if i + 1 < n else -1
        if escaped == 0x5C:
            literal.append(0x5C)
        elif 0x30 <= escaped <= 0x39:
            group = escaped - 0x30
            if group > group_count:
                return None
            pieces += (bytes(literal), group)
            literal.clear()
        else:
            break
        i += 2
    pieces.append(bytes(literal))
    return [piece for piece in pieces if piece != b""]


def _re2_global_replace(regex, substitution):
    """``replace(text) -> text`` with RE2::GlobalReplace semantics."""
    pieces = _parse_substitution(substitution, regex.groups)
    if pieces is None:
        return _same_path

    def expand(m):
        return b"".join(piece if piece.__class__ is bytes else (m.group(piece) or b"")
                        for piece in pieces)

    if not can_match_empty(regex):
        return lambda text: regex.sub(expand, text)

    def replace(text):
        # RE2 refuses an empty match right where the previous match ended; Python allows it.
        out = []
        position = 0
        end = len(text)
        previous_end = -1
        replaced = False
        while position <= end:
            m = regex.search(text, position)
            if m is None:
                break
            start, stop = m.span()
            if position < start:
                out.append(text[position:start])
            if start == stop == previous_end:
                out.append(text[position:position + 1])
                position += 1
                continue
            out.append(expand(m))
            position = previous_end = stop
            replaced = True
        if not replaced:
            return text
        out.append(text[position:])
        return b"".join(out)
    return replace


# --- redirects ---------------------------------------------------------------------------------

_STANDARD_PORTS = {b"http": b":80", b"https": b":443"}


class RedirectBuilder:
    """The Location of a redirect (or of a 201/3xx direct response when ``redirect`` is None).

    ``scheme`` is the request's scheme as Envoy sees it (x-forwarded-proto when trusted). The
    request's port is dropped when a port_redirect is set, or when the scheme changes and the port
    was the standard one of the old scheme (http://a:80 → https://a, but https://a:8080 stays).
    """

    __slots__ = ("_scheme", "_host", "_port", "_path", "_path_has_query", "_rewrite_path",
                 "_strip_query")

    def __init__(self, redirect, match, where):
        self._scheme = self._host = self._path = self._rewrite_path = None
        self._port = b""
        self._path_has_query = self._strip_query = False
        if redirect is None:
            return
        if redirect.scheme_redirect:
            self._scheme = redirect.scheme_redirect.encode()
        elif redirect.https_redirect:
            self._scheme = b"https"
        if redirect.host_redirect:
            self._host = redirect.host_redirect.encode()
        if redirect.port_redirect:
            self._port = b":%d" % redirect.port_redirect
        if redirect.path_redirect:
            if redirect.prefix_rewrite or redirect.regex_rewrite is not None:
                raise ConfigError([(where, "path_redirect excludes prefix_rewrite and "
                                           "regex_rewrite")])
            self._path = redirect.path_redirect.encode()
            self._path_has_query = b"?" in self._path
        else:
            self._rewrite_path = make_path_rewriter(match, redirect.prefix_rewrite,
                                                    redirect.regex_rewrite, where)
        self._strip_query = redirect.strip_query

    def location(self, scheme, host, path):
        new_scheme = self._scheme or scheme
        port = self._port
        new_host = self._host
        if new_host is None:
            new_host = _host_for_redirect(host, scheme, new_scheme, port)
        if self._path is not None:
            new_path = self._path
            query_at = path.find(b"?")
            if not self._path_has_query and query_at >= 0:
                new_path += path[query_at:]
        elif self._rewrite_path is not None:
            new_path = self._rewrite_path(path)
        else:
            new_path = path
        if new_path[:1] != b"/":
            new_path = b"/" + new_path
        if self._strip_query and not self._path_has_query:
            query_at = new_path.find(b"?")
            if query_at >= 0:
                new_path = new_path[:query_at]
        return b"".join((new_scheme, b"://", new_host, port, new_path))


def _host_for_redirect(host, scheme, new_scheme, new_port):
    if not host:
        return host
    if host[:1] == b"[":
        port_at = host.rfind(b"]:")
        if port_at >= 0:
            port_at += 1
    else:
        port_at = host.rfind(b":")
    if port_at < 0:
        return host
    if new_port or (new_scheme != scheme and _STANDARD_PORTS.get(scheme) == host[port_at:]):
        return host[:port_at]
    return host
