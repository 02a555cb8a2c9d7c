"""Tracing as the connection manager, its routes and the router configure it
(envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing,
envoy.config.route.v3.Tracing and Decorator, envoy.config.trace.v3 ZipkinConfig and
OpenTelemetryConfig). Sampling shares are (numerator, denominator) pairs, as Envoy evaluates
them: the connection manager's Percent values become shares of 10,000."""
from __future__ import annotations

from dataclasses import dataclass

#: a share that takes every request
ALL = (10000, 10000)


@dataclass(frozen=True)
class CustomTag:
    """One ``custom_tags`` entry. ``kind``: "literal" (``value``), "request_header" (header
    ``name``), "environment" (variable ``name``) or "metadata" (the request's dynamic metadata,
    namespace ``name``, then the ``path`` of keys); ``default`` when the source has none."""
    tag: str
    kind: str
    value: str = ""
    name: str = ""
    path: tuple[str, ...] = ()
    default: str = ""


@dataclass(frozen=True)
class ZipkinProvider:
    """envoy.tracers.zipkin: spans POSTed to ``collector_endpoint`` of ``collector_cluster``."""
    collector_cluster: str
    collector_endpoint: str
    collector_hostname: str = ""          # the POST's Host; the cluster's name when empty
    collector_endpoint_version: str = "HTTP_JSON"    # or HTTP_PROTO
    shared_span_context: bool = True
    trace_id_128bit: bool = False

    name = "zipkin"


@dataclass(frozen=True)
class OpenTelemetryProvider:
    """envoy.tracers.opentelemetry: OTLP export over gRPC (``grpc_cluster``) or HTTP
    (``http_cluster``, ``http_path``). ``resource_attributes``: (key, value) pairs the resource
    detectors found, besides service.name."""
    grpc_cluster: str = ""
    grpc_authority: str = ""
    grpc_timeout: float = 0.0             # 0: none
    grpc_initial_metadata: tuple = ()     # (name, value) str pairs
    http_cluster: str = ""
    http_host: str = ""
    http_path: str = "/v1/traces"
    http_timeout: float = 0.25
    http_headers: tuple = ()              # (name, value) str pairs
    service_name: str = "unknown_service:envoy"
    resource_attributes: tuple = ()

    name = "opentelemetry"


@dataclass(frozen=True)
class Tracing:
    """The connection manager's ``tracing``. ``provider`` None: the server-wide tracer, which
    hotproxy does not have (Envoy traces nothing then either)."""
    provider: ZipkinProvider | OpenTelemetryProvider | None = None
    client_sampling: tuple = ALL
    random_sampling: tuple = ALL
    overall_sampling: tuple = ALL
    custom_tags: tuple[CustomTag, ...] = ()
    max_path_tag_length: int = 256
    spawn_upstream_span: bool = False
    verbose: bool = False


@dataclass(frozen=True)
class RouteTracing:
    """A route's ``tracing``: its shares replace the connection manager's (each 100% unset)."""
    client_sampling: tuple = ALL
    random_sampling: tuple = ALL
    overall_sampling: tuple = ALL
    custom_tags: tuple[CustomTag, ...] = ()


@dataclass(frozen=True)
class Decorator:
    """A route's ``decorator``: the span's operation name, and whether the next hop hears it
    (``x-envoy-decorator-operation``)."""
    operation: str
    propagate: bool = True
