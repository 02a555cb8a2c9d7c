"""Route selection: which virtual host, then which route, serves a request.

``RouteTable(config)`` compiles a RouteConfiguration once; ``match(host, path, headers)`` returns
the ``CompiledRoute`` (see ``actions``) of the first matching route, or None (404).

Virtual hosts are chosen like Envoy's ``RouteMatcher::findVirtualHost``: the lower-cased Host
value, port included (``example.com:8080`` matches only a domain spelled with that port), is
looked up among exact domains, then suffix wildcards (``*.foo.com``, longest first, never
matching the bare suffix), then prefix wildcards (``foo.*``, longest first), then ``*``.
With ``ignore_port_in_host_matching`` the Host's port (what follows its last ':' outside an
IPv6 address's brackets) is dropped first, as istiod, which lists domains without ports,
expects.
Routes are tried in order; paths are matched without the query string.

A route with ``match.runtime_fraction`` matches only its share of the requests it would match
(the runtime key's value, else the default; a draw that fails moves on to the next route). As
Envoy does with the stream's random value, one request draws once: every runtime_fraction route
it is tested against reads the same 64-bit value (``value % denominator < numerator``), so of
two 50% routes in a row the second never takes what the first turned down. Only tables with
such routes draw at all (``_DrawingRouteTable``).
"""
from __future__ import annotations

import random

from ...errors import ConfigError
from ...runtime import fraction_enabled
from ..header_mutation import compile_header_level
from .actions import DIRECT_RESPONSE, REDIRECT, ROUTE, CompiledRoute  # noqa: F401 (re-exported)
from ...matching import compile_regex
from .hashing import RequestHash
from .mirroring import MirrorPolicies
from .matchers import compile_request_checks

# Path match kinds, tested in this order of likelihood by RouteTable.match; CONNECT routes
# are kept apart (RouteTable.match_connect).
_PREFIX, _PREFIX_NOCASE, _EXACT, _EXACT_NOCASE, _SEPARATED, _SEPARATED_NOCASE, _REGEX, _CONNECT = range(8)
# path specifier → (kind when case_sensitive, kind when not)
_KINDS = {"prefix": (_PREFIX, _PREFIX_NOCASE), "path": (_EXACT, _EXACT_NOCASE),
          "path_separated_prefix": (_SEPARATED, _SEPARATED_NOCASE)}
_QUERY_OR_FRAGMENT = (0x3F, 0x23)                 # b"?", b"#"
_PREFIX_END = (0x2F, 0x3F, 0x23)                  # b"/", b"?", b"#"


class RouteTable:
    """A compiled RouteConfiguration. Raises ConfigError listing every problem found.

    ``rng`` supplies the random numbers of weighted_clusters (a seeded ``random.Random`` makes
    tests deterministic).
    """

    __slots__ = ("name", "_default_only", "_exact", "_suffixes", "_prefixes", "_default", "_draw",
                 "_ignore_port")

    def __new__(cls, config, rng=random):
        if cls is RouteTable and _has_runtime_fractions(config):
            cls = _DrawingRouteTable
        return super().__new__(cls)

    def __init__(self, config, rng=random):
        self.name = config.name
        self._ignore_port = config.ignore_port_in_host_matching
        #: [the random value of the request being matched, None until one is drawn]
        self._draw = [None]
        problems = []
        global_levels = self._levels(config, "", problems)
        self._exact = {}
        suffixes = {}
        prefixes = {}
        self._default = None
        for v, vhost in enumerate(config.virtual_hosts):
            where = f"virtual_hosts[{v}]"
            levels = self._levels(vhost, where, problems)
            request_levels = (levels[0], global_levels[0])
            response_levels = (levels[1], global_levels[1])
            entries = []
            connect = []
            for r, route in enumerate(vhost.routes):
                try:
                    entry = _compile_entry(route, vhost, f"{where}.routes[{r}]",
                                           request_levels, response_levels, rng, self._draw)
                except ConfigError as error:
                    problems.extend(error.problems)
                    continue
                if entry is not None:
                    (connect if entry[0] == _CONNECT else entries).append(entry)
            entries = _Routes(entries)
            entries.connect = tuple(connect)
            for d, domain in enumerate(vhost.domains):
                problem = self._add_domain(domain.lower(), entries, suffixes, prefixes, config.name)
                if problem:
                    problems.append((f"{where}.domains[{d}]", problem))
        if problems:
            raise ConfigError(problems)
        # longest wildcard first; each is (length, {text without '*': entries})
        self._suffixes = tuple(sorted(suffixes.items(), reverse=True))
        self._prefixes = tuple(sorted(prefixes.items(), reverse=True))
        self._default_only = (self._default is not None and not self._exact
                              and not self._suffixes and not self._prefixes)

    @staticmethod
    def _levels(owner, where, problems):
        """(request level, response level) of a route configuration or virtual host."""
        try:
            return (compile_header_level(owner.request_headers_to_add,
                                         owner.request_headers_to_remove, where, "request"),
                    compile_header_level(owner.response_headers_to_add,
                                         owner.response_headers_to_remove, where, "response"))
        except ConfigError as error:
            problems.extend(error.problems)
            return (None, None)

    def _add_domain(self, domain, entries, suffixes, prefixes, config_name):
        if domain == "*":
            if self._default is not None:
                return f"Only a single wildcard domain is permitted in route {config_name}"
            self._default = entries
            return None
        if domain.startswith("*"):
            table = suffixes.setdefault(len(domain) - 1, {})
            key = domain[1:].encode()
        elif domain.endswith("*"):
            table = prefixes.setdefault(len(domain) - 1, {})
            key = domain[:-1].encode()
        else:
            table = self._exact
            key = domain.encode()
        if key in table:
            return (f"Only unique values for domains are permitted. Duplicate entry of domain "
                    f"{domain} in route {config_name}")
        table[key] = entries
        return None

    def _virtual_host_routes(self, host):
        if self._ignore_port:
            host = _without_port(host)
        entries = self._exact.get(host)
        if entries is not None:
            return entries
        host = host.lower()
        entries = self._exact.get(host)
        if entries is not None:
            return entries
        size = len(host)
        for length, table in self._suffixes:
            if length < size:
                entries = table.get(host[size - length:])
                if entries is not None:
                    return entries
        for length, table in self._prefixes:
            if length < size:
                entries = table.get(host[:length])
                if entries is not None:
                    return entries
        return self._default

    def match_connect(self, host, headers, scheme=None):
        """The CompiledRoute of a CONNECT request (only ``connect_matcher`` routes take one, and
        no other route does), or None."""
        entries = self._default if self._default_only else self._virtual_host_routes(host)
        for _, _, checks, route in (entries.connect if entries is not None else ()):
            if checks is None or checks(headers, host, b"", b"CONNECT", scheme):
                return route
        return None

    def match(self, host, path, headers, method=None, scheme=None):
        """The CompiledRoute for a request, or None.

        ``host`` is the Host value, ``path`` the origin-form target (query included), ``headers``
        the (lower-case name, value) list. ``method`` and ``scheme`` are only consulted by
        header matchers on ``:method`` / ``:scheme`` (absent when None).
        """
        entries = self._default if self._default_only else self._virtual_host_routes(host)
        if not entries:
            return None
        bare = None
        for kind, value, checks, route in entries:
            if kind == _PREFIX:
                if not path.startswith(value):
                    continue
            elif kind == _EXACT:
                if path != value and not (path.startswith(value)
                                          and path[len(value)] in _QUERY_OR_FRAGMENT):
                    continue
            elif kind == _SEPARATED:
                if not path.startswith(value) or (len(path) > len(value)
                                                  and path[len(value)] not in _PREFIX_END):
                    continue
            elif kind == _REGEX:
                if bare is None:
                    bare = _without_query(path)
                if value(bare) is None:
                    continue
            else:
                # case-insensitive kinds: value is the lower-cased text
                size = len(value)
                if path[:size].lower() != value:
                    continue
                if len(path) > size:
                    if kind == _EXACT_NOCASE:
                        if path[size] not in _QUERY_OR_FRAGMENT:
                            continue
                    elif kind == _SEPARATED_NOCASE and path[size] not in _PREFIX_END:
                        continue
            if checks is None or checks(headers, host, path, method, scheme):
                return route
        return None


class _DrawingRouteTable(RouteTable):
    """A table with runtime_fraction routes: each match starts a request's draw afresh."""

    __slots__ = ()

    def match_connect(self, host, headers, scheme=None):
        self._draw[0] = None
        return RouteTable.match_connect(self, host, headers, scheme)

    def match(self, host, path, headers, method=None, scheme=None):
        self._draw[0] = None
        return RouteTable.match(self, host, path, headers, method, scheme)


def _without_port(host):
    """Envoy's HeaderUtility::getPortStart: from the last ':' not inside '[...]'."""
    colon = host.rfind(b":")
    if colon < 0 or host.rfind(b"]") > colon:
        return host
    return host[:colon]


def _has_runtime_fractions(config):
    return any(route.match is not None and route.match.runtime_fraction is not None
               for vhost in config.virtual_hosts for route in vhost.routes)


class _Routes(tuple):
    """A virtual host's routes in order, and apart (``connect``) its CONNECT ones."""


def _without_query(path):
    query_at = path.find(b"?")
    if query_at >= 0:
        path = path[:query_at]
    fragment_at = path.find(b"#")
    return path if fragment_at < 0 else path[:fragment_at]


def _compile_entry(route, vhost, where, request_levels, response_levels, rng, draw):
    """(kind, value, checks, CompiledRoute) for ``RouteTable.match``, or None for a route that
    can never match (a prefix or path with '?' or '#': Envoy matches without the query)."""
    match = route.match
    text = match.path_value
    path_kind = match.path_kind
    if path_kind == "safe_regex":
        kind = _REGEX
        value = compile_regex(text, f"{where}.match.safe_regex.regex").fullmatch
    elif path_kind == "connect":
        kind, value = _CONNECT, b""
    elif path_kind in ("prefix", "path", "path_separated_prefix"):
        value = text.encode()
        if not match.case_sensitive:
            value = value.lower()
        kind = _KINDS[path_kind][not match.case_sensitive]
    else:
        raise ConfigError([(f"{where}.match", f"unknown path specifier '{path_kind}'")])
    checks = compile_request_checks(match, f"{where}.match")
    if match.runtime_fraction is not None:
        checks = _with_runtime_fraction(match.runtime_fraction, checks, draw, rng.getrandbits)
    compiled = CompiledRoute(route, vhost.name, where, request_levels, response_levels, rng,
                             vhost)
    if route.route is not None and route.route.hash_policy:
        compiled.request_hash = RequestHash(route.route.hash_policy, f"{where}.route.hash_policy")
        if any(policy.kind == "cookie" and policy.ttl is not None for policy in route.route.hash_policy):
            compiled.makes_cookies = compiled.has_response_mutations = True
    if route.route is not None and route.route.request_mirror_policies:
        compiled.mirrors = MirrorPolicies(route.route.request_mirror_policies, rng)
    compiled.extras = (compiled.request_hash is not None or compiled.mirrors is not None
                       or getattr(compiled, "grpc_timeout_max", None) is not None)
    compiled.starts_router = compiled.kind is ROUTE and not compiled.extras
    if kind != _REGEX and (b"?" in value or b"#" in value):
        return None
    return (kind, value, checks, compiled)


def _with_runtime_fraction(fraction, checks, draw, getrandbits):
    """``checks`` (None: none) and the route's runtime_fraction, drawn with the request's random
    value (``draw[0]``, drawn here when no route has yet)."""
    key = fraction.runtime_key
    numerator, denominator = default = fraction.default

    def in_fraction(headers, host, path, method, scheme):
        value = draw[0]
        if value is None:
            value = draw[0] = getrandbits(64)
        if key:
            if not fraction_enabled(key, default, value):
                return False
        elif value % denominator >= numerator:
            return False
        return checks is None or checks(headers, host, path, method, scheme)
    return in_fraction
