"""Cluster (envoy.config.cluster.v3) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass, field

from .core import SocketAddress
from .health_check import EndpointHealthCheckConfig, HealthCheck
from .outlier import OutlierDetection
from .tls import UpstreamTlsContext
from .xds import Eds


#: An endpoint's or locality's ``metadata.filter_metadata["envoy.transport_socket_match"]``, as
#: (key, value) pairs; None when it has none.
SocketMatchLabels = tuple[tuple[str, object], ...] | None


@dataclass(frozen=True)
class LbEndpoint:
    address: SocketAddress
    load_balancing_weight: int = 1
    socket_match_labels: SocketMatchLabels = None
    health_check: EndpointHealthCheckConfig | None = None
    hostname: str = ""      # endpoint.hostname: what auto_host_rewrite and auto_sni use
    #: what the control plane says of it: UNHEALTHY, DRAINING and TIMEOUT take no traffic
    health_status: str = "UNKNOWN"

    @property
    def serves(self) -> bool:
        return self.health_status not in ("UNHEALTHY", "DRAINING", "TIMEOUT")

    def health_check_address(self) -> tuple[str, int]:
        """Where active health checks of this endpoint go: its ``health_check_config`` address
        and port where set, its own otherwise (a DNS endpoint's is resolved by the checker)."""
        config = self.health_check
        address = config.address if config is not None and config.address is not None else self.address
        port = config.port if config is not None and config.port else self.address.port
        return address.address, port


@dataclass(frozen=True)
class LocalityLbEndpoints:
    lb_endpoints: tuple[LbEndpoint, ...]
    load_balancing_weight: int | None = None
    locality: tuple[str, str, str] | None = None      # (region, zone, sub_zone)
    priority: int = 0
    socket_match_labels: SocketMatchLabels = None


@dataclass(frozen=True)
class UpstreamProxyProtocol:
    """envoy.transport_sockets.upstream_proxy_protocol: a PROXY protocol header (``version`` V1
    or V2) announcing the downstream connection, then ``inner`` (TLS, or None for plain text)."""
    version: str = "V1"
    inner: UpstreamTlsContext | None = None


#: A cluster's transport socket: TLS, PROXY protocol (maybe around TLS), or None for plain text.
UpstreamTransportSocket = UpstreamTlsContext | UpstreamProxyProtocol | None


@dataclass(frozen=True)
class TransportSocketMatch:
    """One of a cluster's ``transport_socket_matches``: ``transport_socket`` for the endpoints
    whose socket match labels hold every (key, value) of ``match``."""
    name: str
    match: tuple[tuple[str, object], ...]
    transport_socket: UpstreamTransportSocket


@dataclass(frozen=True)
class RetryBudget:
    """circuit_breakers.thresholds.retry_budget: at most ``budget_percent`` of the active and
    pending requests may be retries, and at least ``min_retry_concurrency`` always may."""
    budget_percent: float = 20.0
    min_retry_concurrency: int = 3


@dataclass(frozen=True)
class Thresholds:
    """circuit_breakers.thresholds[] of the HIGH priority (Envoy's defaults without one; the
    DEFAULT priority's are Cluster's own fields, of the same names)."""
    max_connections: int = 1024
    max_pending_requests: int = 1024
    max_requests: int = 1024
    max_retries: int = 3
    retry_budget: RetryBudget | None = None
    track_remaining: bool = False
    #: a threshold for the priority is configured (else max_requests is not counted)
    breakers_configured: bool = False


@dataclass(frozen=True)
class SlowStart:
    """slow_start_config of round_robin_lb_config or least_request_lb_config: a host's weight
    grows from ``min_weight_percent`` to full over ``window`` seconds after it is added (or
    becomes healthy), by (elapsed / window) ** (1 / ``aggression``)."""
    window: float
    aggression: float = 1.0
    min_weight_percent: float = 10.0


@dataclass(frozen=True)
class OriginalDstLbConfig:
    """original_dst_lb_config of an ORIGINAL_DST cluster. ``http_header_name`` is lower-case,
    and None unless ``use_http_header``: then the host is the one that request header names
    (``x-envoy-original-dst-host`` by default). ``upstream_port_override`` replaces the
    destination's port when set."""
    http_header_name: str | None = None
    upstream_port_override: int | None = None


@dataclass(frozen=True)
class UpstreamBindConfig:
    """upstream_bind_config: upstream connections bind to ``source_address`` ((ip, port), port 0
    for any) before connecting, with IP_FREEBIND when ``freebind``."""
    source_address: tuple[str, int] | None = None
    freebind: bool = False


@dataclass(frozen=True)
class Cluster:
    """``type`` is STATIC, STRICT_DNS, LOGICAL_DNS or ORIGINAL_DST; ``lb_policy`` ROUND_ROBIN,
    LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV (CLUSTER_PROVIDED for, and only for, ORIGINAL_DST).
    ``endpoints`` flattens load_assignment (locality weights are not supported yet)."""
    name: str
    #: the name its stats go by (``cluster.<alt_stat_name>.*``), Envoy's observability name
    alt_stat_name: str = ""
    #: metadata.filter_metadata, by namespace (Istio's ``istio``); accepted, read by nothing yet
    filter_metadata: dict = field(default_factory=dict, hash=False)
    type: str = "STATIC"
    connect_timeout: float = 5.0
    lb_policy: str = "ROUND_ROBIN"
    endpoints: tuple[LocalityLbEndpoints, ...] = ()
    #: EDS clusters: where their endpoints come from (``endpoints`` is then empty)
    eds: Eds | None = None
    dns_refresh_rate: float = 5.0
    dns_lookup_family: str = "AUTO"          # AUTO, V4_ONLY, V6_ONLY, V4_PREFERRED, ALL
    # dns_failure_refresh_rate: (base_interval, max_interval); None: retry at dns_refresh_rate
    dns_failure_refresh_rate: tuple[float, float] | None = None
    respect_dns_ttl: bool = False
    # the resolvers' (ip, port), from typed_dns_resolver_config (c-ares) or dns_resolvers;
    # empty: the system's (getaddrinfo, or /etc/resolv.conf's servers for respect_dns_ttl)
    dns_resolvers: tuple[tuple[str, int], ...] = ()
    per_connection_buffer_limit_bytes: int = 1024 * 1024
    # circuit_breakers default thresholds (Envoy's defaults)
    max_connections: int = 1024
    max_pending_requests: int = 1024
    max_requests: int = 1024
    max_retries: int = 3
    retry_budget: RetryBudget | None = None     # replaces max_retries when set
    track_remaining: bool = False               # circuit_breakers.default.remaining_* gauges
    #: whether circuit_breakers sets a threshold: without one, max_requests is not counted
    #: (its default of 1024 would cost every request for a limit nobody asked for)
    breakers_configured: bool = False
    #: the HIGH priority's thresholds, for routes with ``priority: HIGH``
    high_thresholds: Thresholds = Thresholds()
    # least_request_lb_config.choice_count and active_request_bias (its default_value)
    choice_count: int = 2
    active_request_bias: float = 1.0
    # slow_start_config of the ROUND_ROBIN or LEAST_REQUEST config; None without one (or with
    # a zero window, which Envoy treats as no slow start)
    slow_start: SlowStart | None = None
    # ring_hash_lb_config (hash_function XX_HASH or MURMUR_HASH_2) and maglev_lb_config
    minimum_ring_size: int = 1024
    maximum_ring_size: int = 8388608
    hash_function: str = "XX_HASH"
    maglev_table_size: int = 65537
    # common_lb_config.healthy_panic_threshold, rounded to a whole percent as Envoy does
    healthy_panic_threshold: int = 50
    # common_lb_config.locality_weighted_lb_config is set
    locality_weighted: bool = False
    # typed_extension_protocol_options' common_http_protocol_options: response head bounds
    max_response_headers_kb: int = 80
    max_response_headers_count: int = 100
    #: explicit_http_config / use_downstream_protocol_config http_protocol_options.enable_trailers
    http1_enable_trailers: bool = False
    #: HTTP/2 upstream (Http2Options overrides, sorted (name, value) pairs), None for HTTP/1.1:
    #: from explicit_http_config or use_downstream_protocol_config (HttpProtocolOptions), or the
    #: deprecated cluster-level http2_protocol_options
    http2_options: tuple[tuple[str, object], ...] | None = None
    #: use_downstream_protocol_config: HTTP/2 only for requests that came over HTTP/2
    http2_for_http2_downstream_only: bool = False
    #: auto_config: each connection speaks what ALPN chose, HTTP/2 or HTTP/1.1 (http2_options set)
    auto_http: bool = False
    # common_http_protocol_options' connection lifetime (upstream/connection_limits.py):
    # idle_timeout None keeps hotproxy's own idle expiry, 0 none; 0 is no limit for the others
    idle_timeout: float | None = None
    max_requests_per_connection: int = 0
    max_connection_duration: float = 0.0
    #: common_http_protocol_options.max_stream_duration: how long one upstream request may last
    #: from the moment it has its connection to its response's end (router/upstream_duration.py),
    #: 0 none
    max_stream_duration: float = 0.0
    transport_socket: UpstreamTransportSocket = None   # None: plain text (raw_buffer)
    transport_socket_matches: tuple[TransportSocketMatch, ...] = ()
    # upstream_http_protocol_options: the SNI and the SAN to verify, from each request's Host
    # (or from the header named by override_auto_sni_header)
    auto_sni: bool = False
    auto_san_validation: bool = False
    override_auto_sni_header: str = ""
    health_checks: tuple[HealthCheck, ...] = ()   # at most one
    outlier_detection: OutlierDetection | None = None
    # ORIGINAL_DST: how a host is found, and how long one unused is kept (cleanup_interval)
    original_dst_lb_config: OriginalDstLbConfig = OriginalDstLbConfig()
    cleanup_interval: float = 5.0
    upstream_bind_config: UpstreamBindConfig | None = None

    @property
    def stat_name(self) -> str:
        return self.alt_stat_name or self.name

    def tls_contexts(self):
        """Every UpstreamTlsContext the cluster's connections may use."""
        for socket in (self.transport_socket, *(m.transport_socket for m in self.transport_socket_matches)):
            if isinstance(socket, UpstreamProxyProtocol):
                socket = socket.inner
            if socket is not None:
                yield socket

    def all_endpoints(self):
        for locality in self.endpoints:
            yield from locality.lb_endpoints

    def endpoints_with_priority(self):
        """Each endpoint with its labels (as ``endpoints_with_labels``), its priority and its
        locality's index among that priority's (each locality entry is a locality of its own)."""
        indexes = {}
        for locality in self.endpoints:
            index = indexes[locality.priority] = indexes.get(locality.priority, -1) + 1
            for endpoint in locality.lb_endpoints:
                yield (endpoint, (endpoint.socket_match_labels, locality.socket_match_labels),
                       locality.priority, index)

    def locality_weights(self) -> list[list[int]]:
        """Per priority, each locality's load_balancing_weight (0 when unset: no traffic)."""
        weights = [[] for _ in range(self.priority_count)]
        for locality in self.endpoints:
            weights[locality.priority].append(locality.load_balancing_weight or 0)
        return weights

    @property
    def priority_count(self) -> int:
        return max((locality.priority for locality in self.endpoints), default=0) + 1

    def endpoints_with_labels(self):
        """Each endpoint with its own and its locality's transport socket match labels."""
        for locality in self.endpoints:
            for endpoint in locality.lb_endpoints:
                yield endpoint, (endpoint.socket_match_labels, locality.socket_match_labels)
