"""Parsers for how a cluster's connections are established: its ``transport_socket`` (TLS, the
upstream PROXY protocol socket around TLS or plain text, or raw_buffer), its
``transport_socket_matches``, and the endpoint metadata those match against."""
from __future__ import annotations

from .cluster import TransportSocketMatch, UpstreamProxyProtocol
from .fields import Enum, Fields, Node
from .parse_filter_chain import RAW_BUFFER_TYPE, raw_buffer, transport_socket
from .parse_tls import UPSTREAM_TLS_TYPE, upstream_tls_context

PROXY_PROTOCOL_TYPE = ("type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3."
                       "ProxyProtocolUpstreamTransport")
PROXY_PROTOCOL_TRANSPORT = Fields("config transport_socket",
                                  unsupported="allow_unspecified_address tlv_as_header")
PROXY_PROTOCOL_CONFIG = Fields("version", unsupported="pass_through_tlvs added_tlvs")
PROXY_PROTOCOL_VERSIONS = Enum("V1 V2")
TRANSPORT_SOCKET_MATCH = Fields("name match transport_socket")
METADATA = Fields("filter_metadata", unsupported="typed_filter_metadata")
SOCKET_MATCH_KEY = "envoy.transport_socket_match"


def upstream_transport_socket(node: Node):
    """A cluster's ``transport_socket``: UpstreamTlsContext, UpstreamProxyProtocol, or None for
    raw_buffer."""
    return transport_socket(node, {UPSTREAM_TLS_TYPE: upstream_tls_context,
                                   PROXY_PROTOCOL_TYPE: _proxy_protocol, RAW_BUFFER_TYPE: raw_buffer})


def _inner_transport_socket(node: Node):
    return transport_socket(node, {UPSTREAM_TLS_TYPE: upstream_tls_context, RAW_BUFFER_TYPE: raw_buffer})


def _proxy_protocol(node: Node) -> UpstreamProxyProtocol | None:
    m = node.message(PROXY_PROTOCOL_TRANSPORT)
    if m is None:
        return None
    config = m.nested("config", lambda n: n.message(PROXY_PROTOCOL_CONFIG))
    version = config.enum("version", PROXY_PROTOCOL_VERSIONS) if config is not None else None
    inner = m.nested("transport_socket", _inner_transport_socket, required=True)
    return UpstreamProxyProtocol(version=version or "V1", inner=inner)


def transport_socket_match(node: Node) -> TransportSocketMatch | None:
    m = node.message(TRANSPORT_SOCKET_MATCH)
    if m is None:
        return None
    match = m.nested("match", struct) or {}
    if not m.has("transport_socket"):
        m.at("transport_socket").fail("required field is missing")
        return None
    return TransportSocketMatch(name=m.string("name", default=""), match=tuple(match.items()),
                                transport_socket=m.nested("transport_socket", upstream_transport_socket))


def socket_match_labels(node: Node) -> tuple | None:
    """The ``envoy.transport_socket_match`` entry of a ``metadata``, as (key, value) pairs; None
    when there is none. The rest of the filter metadata is accepted and not used."""
    m = node.message(METADATA)
    if m is None or not m.has("filter_metadata"):
        return None
    filters = m.at("filter_metadata")
    if not isinstance(filters.value, dict):
        return filters.fail("expected a mapping")
    for name, value in filters.value.items():
        struct(filters.child(name, value))
    labels = filters.value.get(SOCKET_MATCH_KEY)
    return tuple(labels.items()) if isinstance(labels, dict) else None


def struct(node: Node) -> dict | None:
    """A ``google.protobuf.Struct``: any mapping."""
    if not isinstance(node.value, dict):
        return node.fail("expected a mapping (a Struct)")
    return node.value

