"""RouteConfiguration (envoy.config.route.v3) as frozen dataclasses.

Durations are float seconds; ``None`` means "not set" (the default applies), ``0`` means disabled
where Envoy says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from .core import HeaderMatcher, HeaderValueOption, QueryParameterMatcher
from .max_stream_duration import MaxStreamDuration
from .rate_limit import RateLimit
from .runtime import RuntimeFraction
from .tracing import Decorator, RouteTracing


@dataclass(frozen=True)
class RouteMatch:
    """Exactly one of the path specifiers is set: ``path_kind`` is "prefix", "path",
    "safe_regex" or "path_separated_prefix" and ``path_value`` its string, or "connect"
    (``connect_matcher``: CONNECT requests only, which no other kind matches).
    ``runtime_fraction``: the route matches only that share of the requests it would match."""
    path_kind: str
    path_value: str
    case_sensitive: bool = True
    headers: tuple[HeaderMatcher, ...] = ()
    query_parameters: tuple[QueryParameterMatcher, ...] = ()
    grpc: bool = False      # only gRPC requests (content-type application/grpc…) match
    runtime_fraction: RuntimeFraction | None = None


@dataclass(frozen=True)
class WeightedCluster:
    name: str
    weight: int
    #: (filter name, parsed per-route config or parse_http_filters.FilterConfig) pairs
    typed_per_filter_config: tuple = ()
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegexRewrite:
    pattern: str
    substitution: str


@dataclass(frozen=True)
class RetryBackOff:
    """``retry_back_off``: seconds; ``max_interval`` None means 10 times ``base_interval``."""
    base_interval: float
    max_interval: float | None = None


@dataclass(frozen=True)
class ResetHeader:
    """``rate_limited_retry_back_off.reset_headers[]``: ``format`` is "SECONDS" or
    "UNIX_TIMESTAMP"; ``name`` is lower-cased."""
    name: str
    format: str = "SECONDS"


@dataclass(frozen=True)
class RateLimitedRetryBackOff:
    reset_headers: tuple[ResetHeader, ...]
    max_interval: float = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """route.v3.RetryPolicy. ``retry_on`` holds the condition names as written (unknown ones
    dropped, as Envoy ignores them); ``previous_hosts`` is the one retry host predicate hotproxy
    has. Durations are seconds; None or 0 disables a per-try timeout."""
    retry_on: tuple[str, ...] = ()
    num_retries: int = 1
    per_try_timeout: float | None = None
    per_try_idle_timeout: float | None = None
    retry_back_off: RetryBackOff | None = None
    rate_limited_retry_back_off: RateLimitedRetryBackOff | None = None
    previous_hosts: bool = False
    host_selection_retry_max_attempts: int = 1
    retriable_status_codes: tuple[int, ...] = ()
    retriable_headers: tuple[HeaderMatcher, ...] = ()
    retriable_request_headers: tuple[HeaderMatcher, ...] = ()


@dataclass(frozen=True)
class HashPolicy:
    """One ``RouteAction.hash_policy[]`` entry. ``kind`` is "header" (``name``: the lower-cased
    header, ``regex_rewrite`` applied to each value first), "cookie" (``name``; ``ttl`` seconds,
    None when unset: then a missing cookie yields no hash; ``path``; ``attributes`` as (name,
    value) pairs), "source_ip", "query_parameter" (``name``) or "filter_state" (``name``: the
    filter state key)."""
    kind: str
    name: str = ""
    terminal: bool = False
    regex_rewrite: RegexRewrite | None = None
    ttl: float | None = None
    path: str = ""
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MirrorPolicy:
    """One ``RouteAction.request_mirror_policies[]`` entry: exactly one of ``cluster`` and
    ``cluster_header`` (lower-cased) is set; a request is mirrored with probability
    ``numerator / denominator`` (runtime_fraction's default_value; always when unset), or as the
    runtime's value of ``runtime_key`` says when it has one;
    ``host_suffix``: the shadow's Host gets "-shadow" (disable_shadow_host_suffix_append)."""
    cluster: str | None = None
    cluster_header: str | None = None
    numerator: int = 100
    denominator: int = 100
    runtime_key: str = ""
    host_suffix: bool = True


@dataclass(frozen=True)
class HedgePolicy:
    """route.v3.HedgePolicy. ``initial_requests`` (at least 1) and ``additional_request_chance``
    are read and, as by Envoy 1.40 (which has not implemented them), not acted on."""
    hedge_on_per_try_timeout: bool = False
    initial_requests: int = 1


@dataclass(frozen=True)
class RouteAction:
    """Exactly one cluster specifier: ``cluster``, ``weighted_clusters`` or ``cluster_header``."""
    cluster: str | None = None
    weighted_clusters: tuple[WeightedCluster, ...] = ()
    cluster_header: str | None = None          # lower-cased header name
    prefix_rewrite: str | None = None
    regex_rewrite: RegexRewrite | None = None
    host_rewrite_literal: str | None = None
    auto_host_rewrite: bool = False
    timeout: float = 15.0                      # route timeout; 0 disables it
    idle_timeout: float | None = None          # per-route stream idle timeout; 0 disables
    retry_policy: RetryPolicy | None = None    # the virtual host's applies when None
    #: the route's own, else its virtual host's (the parser fills it in, as Envoy picks it)
    hedge_policy: HedgePolicy | None = None
    hash_policy: tuple[HashPolicy, ...] = ()
    request_mirror_policies: tuple[MirrorPolicy, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()    # rate_limit.py; the local_ratelimit filter reads them
    include_vh_rate_limits: bool = False
    priority: str = "DEFAULT"                  # or "HIGH": the cluster's HIGH breakers and pools
    #: the deprecated max_grpc_timeout / grpc_timeout_offset: a gRPC request's route timeout
    #: comes from its grpc-timeout, capped (0: no cap) (router/grpc_timeout.py)
    grpc_timeout_max: float | None = None
    grpc_timeout_offset: float = 0.0
    #: max_stream_duration (http/stream_duration.py); set, it voids timeout and max_grpc_timeout
    max_stream_duration: MaxStreamDuration | None = None
    #: (upgrade type lower-case, enabled, terminate) triples overriding the connection
    #: manager's for this route (terminate: CONNECT with connect_config, see parse_upgrade.py)
    upgrade_configs: tuple = ()


@dataclass(frozen=True)
class RedirectAction:
    """``redirect``. ``response_code`` is the HTTP status (301 MOVED_PERMANENTLY default, 302, 303,
    307, 308). ``path_redirect`` and ``prefix_rewrite`` are mutually exclusive."""
    scheme_redirect: str | None = None
    https_redirect: bool = False
    host_redirect: str | None = None
    port_redirect: int | None = None
    path_redirect: str | None = None
    prefix_rewrite: str | None = None
    regex_rewrite: RegexRewrite | None = None
    response_code: int = 301
    strip_query: bool = False


@dataclass(frozen=True)
class DirectResponseAction:
    status: int
    body: bytes | None = None


@dataclass(frozen=True)
class Route:
    """Exactly one of ``route``, ``redirect``, ``direct_response`` is set."""
    match: RouteMatch
    name: str = ""
    route: RouteAction | None = None
    redirect: RedirectAction | None = None
    direct_response: DirectResponseAction | None = None
    per_request_buffer_limit_bytes: int | None = None   # the virtual host's applies when None
    typed_per_filter_config: tuple = ()
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
    decorator: Decorator | None = None      # the span's operation name (hotproxy/tracing/)
    tracing: RouteTracing | None = None     # sampling shares and tags replacing the manager's


@dataclass(frozen=True)
class VirtualHost:
    name: str
    domains: tuple[str, ...]
    routes: tuple[Route, ...] = ()
    retry_policy: RetryPolicy | None = None
    hedge_policy: HedgePolicy | None = None
    include_request_attempt_count: bool = False
    include_attempt_count_in_response: bool = False
    per_request_buffer_limit_bytes: int | None = None
    rate_limits: tuple[RateLimit, ...] = ()
    typed_per_filter_config: tuple = ()
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteConfiguration:
    name: str = ""
    virtual_hosts: tuple[VirtualHost, ...] = ()
    #: the Host's port is left out when choosing a virtual host (router/route_table.py)
    ignore_port_in_host_matching: bool = False
    #: as set; unset means Envoy's default: true inline in a connection manager, false from RDS
    validate_clusters: bool | None = None

    def named_clusters(self):
        """(field path, cluster name) of every cluster its routes name (not cluster_header's,
        which only a request names)."""
        for v, vhost in enumerate(self.virtual_hosts):
            for r, route in enumerate(vhost.routes):
                action = route.route
                if action is None:
                    continue
                where = f"virtual_hosts[{v}].routes[{r}].route"
                if action.cluster:
                    yield f"{where}.cluster", action.cluster
                for w, weighted in enumerate(action.weighted_clusters or ()):
                    yield f"{where}.weighted_clusters.clusters[{w}].name", weighted.name
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
