"""Parsers for how a config names a side service: envoy.config.core.v3.GrpcService with
``envoy_grpc``, and HttpUri. ext_authz and the tracers share them; each applies its own default
timeout to the ``None`` of an unset one."""
from __future__ import annotations

from dataclasses import dataclass

from .fields import Fields, Node

GRPC_SERVICE = Fields("envoy_grpc timeout initial_metadata", unsupported="google_grpc retry_policy")
ENVOY_GRPC = Fields("cluster_name authority",
                    unsupported="retry_policy max_receive_message_length skip_envoy_headers")
HTTP_URI = Fields("uri cluster timeout")
HEADER_VALUE = Fields("key value", unsupported="raw_value")


@dataclass(frozen=True)
class GrpcTarget:
    cluster: str
    authority: str | None                  # None: unset (the cluster's name is sent)
    timeout: float | None                  # None: unset
    initial_metadata: tuple                # (name, value) str pairs, names lower-case


def grpc_service(node: Node) -> GrpcTarget | None:
    m = node.message(GRPC_SERVICE)
    if m is None:
        return None
    target = m.nested("envoy_grpc", lambda n: n.message(ENVOY_GRPC), required=True)
    timeout = m.duration("timeout")
    metadata = m.repeated("initial_metadata", header_value)
    if target is None:
        return None
    cluster = target.string("cluster_name", required=True)
    if cluster:
        # A cluster without HTTP/2 makes every call fail, as in Envoy 1.40, which accepts it;
        # refusing it needs the parsed clusters (config/parse.py).
        target.at("cluster_name").refers_to_cluster(cluster)
    authority = target.string("authority", http_safe=True)
    if not cluster:
        return None
    return GrpcTarget(cluster, authority, timeout, tuple(metadata))


def http_uri(node: Node) -> tuple[str, str, float] | None:
    """(cluster, uri, timeout) of an HttpUri; its timeout is required, as in Envoy."""
    m = node.message(HTTP_URI)
    if m is None:
        return None
    uri = m.string("uri", required=True, http_safe=True)
    cluster = m.string("cluster", required=True)
    if cluster:
        m.at("cluster").refers_to_cluster(cluster)
    timeout = m.duration("timeout")
    if not m.has("timeout"):
        m.at("timeout").fail("required field is missing")
    if cluster is None or uri is None or timeout is None:
        return None
    return cluster, uri, timeout


def header_value(node: Node) -> tuple[str, str] | None:
    """A HeaderValue as a (lower-case name, value) pair."""
    m = node.message(HEADER_VALUE)
    if m is None:
        return None
    key = m.string("key", required=True, http_safe=True)
    value = m.string("value", "", http_safe=True)
    return (key.lower(), value) if key else None
