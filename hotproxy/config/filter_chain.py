"""How a listener picks a filter chain for a connection (envoy.config.listener.v3.FilterChainMatch)
and the listener filters that find what the match reads (envoy.extensions.filters.listener), as
frozen dataclasses."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class FilterChainMatch:
    """Unset criteria match anything. ``server_names`` are lower-case; ``source_type`` is ANY,
    SAME_IP_OR_LOOPBACK or EXTERNAL."""
    destination_port: int | None = None
    prefix_ranges: tuple[Network, ...] = ()
    direct_source_prefix_ranges: tuple[Network, ...] = ()
    source_type: str = "ANY"
    source_prefix_ranges: tuple[Network, ...] = ()
    source_ports: tuple[int, ...] = ()
    server_names: tuple[str, ...] = ()
    transport_protocol: str = ""
    application_protocols: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsInspector:
    """envoy.filters.listener.tls_inspector: SNI, ALPN and ``tls`` from a peeked ClientHello."""


@dataclass(frozen=True)
class HttpInspector:
    """envoy.filters.listener.http_inspector: ``http/1.1``, ``http/1.0`` or ``h2c`` from the
    first bytes of a plain-text connection."""


@dataclass(frozen=True)
class ProxyProtocol:
    """envoy.filters.listener.proxy_protocol: the client's addresses from a PROXY v1/v2 header."""
    allow_requests_without_proxy_protocol: bool = False


@dataclass(frozen=True)
class OriginalDst:
    """envoy.filters.listener.original_dst: the destination before an iptables REDIRECT."""


LISTENER_FILTERS = (TlsInspector, HttpInspector, ProxyProtocol, OriginalDst)
