"""Listener (envoy.config.listener.v3) and its network filters' typed configs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .accesslog import AccessLog
from .core import HeaderMatcher, SocketAddress
from .filter_chain import FilterChainMatch
from .route import RouteConfiguration
from .reload_probe import ReloadProbe
from .tls import DownstreamTlsContext
from .tracing import Tracing
from .xds import Rds


@dataclass(frozen=True)
class HealthCheck:
    """envoy.extensions.filters.http.health_check.v3.HealthCheck, non-pass-through: requests
    matching every one of ``headers`` are answered by the proxy itself."""
    headers: tuple[HeaderMatcher, ...]


@dataclass(frozen=True)
class HttpFilter:
    """One ``http_filters`` entry: ``config`` is the parsed typed_config (a filter module's
    dataclass, or HealthCheck), None for the router. ``disabled``: off unless a route's
    typed_per_filter_config turns it on."""
    name: str
    config: object
    disabled: bool = False
    start_child_span: bool = False     # the router's: an egress span per upstream request


ROUTER_FILTER = HttpFilter("envoy.filters.http.router", None)


@dataclass(frozen=True)
class HttpConnectionManager:
    """envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.

    Timeouts in float seconds; 0 disables. ``http_filters`` holds the filters in order (the
    router last).
    """
    stat_prefix: str
    route_config: RouteConfiguration
    #: set when the route table comes from RDS (``route_config`` is then an empty one, until the
    #: worker is given the one RDS sent)
    rds: Rds | None = None
    codec_type: str = "AUTO"                  # AUTO, HTTP1 or HTTP2
    #: http2_protocol_options set in the config: (Http2Options attribute, value) pairs
    http2_options: tuple = ()
    http_filters: tuple[HttpFilter, ...] = (ROUTER_FILTER,)
    server_name: str = "envoy"
    use_remote_address: bool = False
    xff_num_trusted_hops: int = 0
    generate_request_id: bool = True
    idle_timeout: float = 3600.0              # common_http_protocol_options.idle_timeout
    max_headers_count: int = 100              # common_http_protocol_options.max_headers_count
    max_requests_per_connection: int = 0      # common_http_protocol_options; 0: no limit
    max_connection_duration: float = 0.0      # common_http_protocol_options; 0: none
    max_stream_duration: float = 0.0          # common_http_protocol_options; 0: none
    max_request_headers_kb: int = 60
    enable_trailers: bool = False             # http_protocol_options.enable_trailers (HTTP/1.1)
    request_timeout: float = 0.0
    drain_timeout: float = 5.0                # HTTP/2: between the two GOAWAYs of a drain
    #: (upgrade type lower-case, enabled, False) triples: the upgrades (websocket …) proxied
    upgrade_configs: tuple = ()
    request_headers_timeout: float = 0.0
    stream_idle_timeout: float = 300.0
    access_log: tuple[AccessLog, ...] = ()
    # path and Host normalization before routing (http/request_normalization.py)
    normalize_path: bool = False
    merge_slashes: bool = False
    path_with_escaped_slashes_action: str = "IMPLEMENTATION_SPECIFIC_DEFAULT"
    strip_trailing_host_dot: bool = False
    strip_host_port: str = "NONE"             # NONE, ANY (strip_any_host_port), MATCHING
    headers_with_underscores_action: str = "ALLOW"   # ALLOW, REJECT_REQUEST, DROP_HEADER
    # x-forwarded-client-cert (http/xfcc.py): the mode, and set_current_client_cert_details as
    # {subject, cert, chain, dns, uri: bool}
    forward_client_cert_details: str = "SANITIZE"
    client_cert_details: dict | None = None
    #: ``tracing`` (hotproxy/tracing/): None traces nothing
    tracing: Tracing | None = None

    @property
    def health_check(self) -> HealthCheck | None:
        """The health_check filter's config when it is one of the filters."""
        for entry in self.http_filters:
            if isinstance(entry.config, HealthCheck):
                return entry.config
        return None


@dataclass(frozen=True)
class TcpWeightedCluster:
    name: str
    weight: int


@dataclass(frozen=True)
class TcpProxy:
    """envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy: ``cluster`` or ``weighted_clusters``."""
    stat_prefix: str
    cluster: str | None = None
    weighted_clusters: tuple[TcpWeightedCluster, ...] = ()
    idle_timeout: float = 3600.0              # 0 disables
    access_log: tuple[AccessLog, ...] = ()
    #: hash_policy source_ip: RING_HASH and MAGLEV clusters hash the downstream address
    hash_source_ip: bool = False


@dataclass(frozen=True)
class ConnectionLimit:
    """envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit: at most
    ``max_connections`` connections through the chain, across the workers; one more is closed
    after ``delay`` seconds."""
    stat_prefix: str
    max_connections: int
    delay: float = 0.0


class NetworkFilter:
    """Base of the configs of the network filters that run before the terminal one (RBAC, …):
    ``runtime`` names the module of hotproxy/network/ that makes the filter (network/filters.py)."""
    runtime: ClassVar[str] = ""


@dataclass(frozen=True)
class FilterChain:
    """One filter chain; ``filters`` holds the network filters in order: any ConnectionLimit and
    NetworkFilter configs, then the terminal HttpConnectionManager or TcpProxy (always
    ``filters[-1]``).
    ``name`` is the chain's name (may be empty); ``match`` what selects it;
    ``transport_socket`` its TLS (None: plain text)."""
    filters: tuple[object, ...]
    name: str = ""
    match: FilterChainMatch = FilterChainMatch()
    transport_socket: DownstreamTlsContext | None = None


@dataclass(frozen=True)
class Listener:
    name: str
    address: SocketAddress
    filter_chains: tuple[FilterChain, ...]
    per_connection_buffer_limit_bytes: int = 1024 * 1024
    enable_reuse_port: bool = True
    #: connection_balance_config: "exact" (exact_balance, listener/balance.py), "" for none
    connection_balance: str = ""
    traffic_direction: str = "UNSPECIFIED"    # UNSPECIFIED, INBOUND or OUTBOUND
    default_filter_chain: FilterChain | None = None
    listener_filters: tuple[object, ...] = ()  # filter_chain.py's TlsInspector, ProxyProtocol, …
    listener_filters_timeout: float = 15.0     # 0: no timeout
    continue_on_listener_filters_timeout: bool = False
    ignore_global_conn_limit: bool = False     # not counted against global_downstream_max_connections
    reload_probe: ReloadProbe | None = None    # metadata's hotproxy.reload_probe (docs/reloads.md)

    def all_filter_chains(self):
        """The filter chains, the default one last."""
        yield from self.filter_chains
        if self.default_filter_chain is not None:
            yield self.default_filter_chain

    def connection_managers(self):
        """The HTTP connection managers of its filter chains."""
        return [f for chain in self.all_filter_chains() for f in chain.filters
                if isinstance(f, HttpConnectionManager)]

    @property
    def stat_name(self) -> str:
        """Envoy's ``listener.<address>`` stat scope (``127.0.0.1_10000``, ``[::1]_80``)."""
        host = f"[{self.address.address}]" if self.address.is_ipv6 else self.address.address
        return f"{host}_{self.address.port}"
