"""Parsers for a listener's filter-chain selection: ``filter_chain_match``, the listener filters
and a filter chain's ``transport_socket`` (into filter_chain.py's and tls.py's dataclasses)."""
from __future__ import annotations

import ipaddress

from .fields import Enum, Fields, Node, present, typed_config
from .filter_chain import FilterChainMatch, HttpInspector, OriginalDst, ProxyProtocol, TlsInspector
from .parse_tls import DOWNSTREAM_TLS_TYPE, downstream_tls_context, wrapped_uint32

FILTER_CHAIN_MATCH = Fields(
    "destination_port prefix_ranges direct_source_prefix_ranges source_type source_prefix_ranges "
    "source_ports server_names transport_protocol application_protocols",
    unsupported="address_suffix suffix_len")
SOURCE_TYPES = Enum("ANY SAME_IP_OR_LOOPBACK EXTERNAL")
CIDR_RANGE = Fields("address_prefix prefix_len")
LISTENER_FILTER = Fields("name typed_config", unsupported="config_discovery filter_disabled")
TLS_INSPECTOR = Fields("", unsupported="enable_ja3_fingerprinting enable_ja4_fingerprinting "
                                       "initial_read_buffer_size")
HTTP_INSPECTOR = Fields("")
PROXY_PROTOCOL = Fields("allow_requests_without_proxy_protocol",
                        unsupported="rules pass_through_tlvs disallowed_versions stat_prefix")
ORIGINAL_DST = Fields("", unsupported="traffic_direction")
TRANSPORT_SOCKET = Fields("name typed_config")
RAW_BUFFER = Fields("")

_LISTENER_FILTER_TYPES = {
    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector":
        (TLS_INSPECTOR, TlsInspector),
    "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector":
        (HTTP_INSPECTOR, HttpInspector),
    "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol":
        (PROXY_PROTOCOL, ProxyProtocol),
    "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst":
        (ORIGINAL_DST, OriginalDst),
}
RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"


def filter_chain_match(node: Node) -> FilterChainMatch | None:
    m = node.message(FILTER_CHAIN_MATCH)
    if m is None:
        return None
    port = m.nested("destination_port", lambda n: wrapped_uint32(n, 1, 65535))
    source_ports = tuple(p for p in (n.uint32(1, 65535) for n in m.items("source_ports")) if p is not None)
    names = []
    for item in m.items("server_names"):
        name = item.string()
        if name is not None and name.startswith("*") and not name.startswith("*."):
            item.fail(f"partial wildcards are not supported in \"server_names\": {name}")
        elif name:
            names.append(name.lower())
    return FilterChainMatch(**present(
        destination_port=port,
        prefix_ranges=m.repeated("prefix_ranges", cidr_range) or None,
        direct_source_prefix_ranges=m.repeated("direct_source_prefix_ranges", cidr_range) or None,
        source_type=m.enum("source_type", SOURCE_TYPES),
        source_prefix_ranges=m.repeated("source_prefix_ranges", cidr_range) or None,
        source_ports=source_ports or None, server_names=tuple(names) or None,
        transport_protocol=m.string("transport_protocol"),
        application_protocols=tuple(p for p in (n.string() for n in m.items("application_protocols")) if p)
        or None))


def cidr_range(node: Node, whole_family=False) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A core CidrRange. Without ``prefix_len`` a filter chain's range is the one address; with
    ``whole_family`` (RBAC's, as in Envoy 1.40) the length is 0: every address of its family."""
    m = node.message(CIDR_RANGE)
    if m is None:
        return None
    prefix = m.string("address_prefix", required=True)
    length = m.nested("prefix_len", wrapped_uint32)
    if prefix is None:
        return None
    try:
        address = ipaddress.ip_address(prefix)
    except ValueError:
        return m.at("address_prefix").fail(f"malformed IP address: {prefix}")
    if length is None:
        length = 0 if whole_family else address.max_prefixlen
    if length > address.max_prefixlen:
        return m.at("prefix_len").fail(f"must be at most {address.max_prefixlen} for {prefix}")
    return ipaddress.ip_network(f"{prefix}/{length}", strict=False)


def listener_filter(node: Node):
    m = node.message(LISTENER_FILTER)
    if m is None:
        return None
    m.string("name", required=True)
    parsers = {url: (lambda n, fields=fields, kind=kind: _listener_filter(n, fields, kind))
               for url, (fields, kind) in _LISTENER_FILTER_TYPES.items()}
    return m.nested("typed_config", lambda n: typed_config(n, parsers), required=True)


def _listener_filter(node: Node, fields: Fields, kind):
    m = node.message(fields)
    if m is None:
        return None
    if kind is ProxyProtocol:
        return ProxyProtocol(**present(allow_requests_without_proxy_protocol=m.boolean(
            "allow_requests_without_proxy_protocol")))
    return kind()


def downstream_transport_socket(node: Node):
    """A filter chain's ``transport_socket``: a DownstreamTlsContext, or None for raw_buffer."""
    return transport_socket(node, {DOWNSTREAM_TLS_TYPE: downstream_tls_context, RAW_BUFFER_TYPE: raw_buffer})


def transport_socket(node: Node, parsers: dict):
    """A ``transport_socket`` whose typed config is read by ``parsers`` (type URL → parser)."""
    m = node.message(TRANSPORT_SOCKET)
    if m is None:
        return None
    m.string("name", required=True)
    return m.nested("typed_config", lambda n: typed_config(n, parsers), required=True)


def raw_buffer(node: Node):
    node.message(RAW_BUFFER)
    return None
