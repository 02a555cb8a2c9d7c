"""Cluster (envoy.config.cluster.v3) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass

from .core import SocketAddress
from .tls import UpstreamTlsContext


@dataclass(frozen=True)
class LbEndpoint:
    address: SocketAddress
    load_balancing_weight: int = 1


@dataclass(frozen=True)
class LocalityLbEndpoints:
    lb_endpoints: tuple[LbEndpoint, ...]
    load_balancing_weight: int | None = None
    priority: int = 0


@dataclass(frozen=True)
class Cluster:
    """``type`` is STATIC, STRICT_DNS or LOGICAL_DNS; ``lb_policy`` ROUND_ROBIN, LEAST_REQUEST
    or RANDOM. ``endpoints`` flattens load_assignment (locality weights are not supported yet)."""
    name: str
    type: str = "STATIC"
    connect_timeout: float = 5.0
    lb_policy: str = "ROUND_ROBIN"
    endpoints: tuple[LocalityLbEndpoints, ...] = ()
    dns_refresh_rate: float = 5.0
    dns_lookup_family: str = "AUTO"          # AUTO, V4_ONLY, V6_ONLY, V4_PREFERRED, ALL
    per_connection_buffer_limit_bytes: int = 1024 * 1024
    # circuit_breakers default thresholds (Envoy's defaults)
    max_connections: int = 1024
    max_pending_requests: int = 1024
    max_requests: int = 1024
    # least_request_lb_config.choice_count
    choice_count: int = 2
    # typed_extension_protocol_options' common_http_protocol_options: response head bounds
    max_response_headers_kb: int = 80
    max_response_headers_count: int = 100
    transport_socket: UpstreamTlsContext | None = None   # None: plain text (raw_buffer)
    # upstream_http_protocol_options: the SNI and the SAN to verify, from each request's Host
    # (or from the header named by override_auto_sni_header)
    auto_sni: bool = False
    auto_san_validation: bool = False
    override_auto_sni_header: str = ""

    def all_endpoints(self):
        for locality in self.endpoints:
            yield from locality.lb_endpoints
