"""How a batch of encoded spans leaves a worker: one exchange with the collector's cluster
through the worker's own upstream pools, in the reporter's greenlet, never a request's.
Each returns what happened, for the reporter to count: "sent", "dropped" (the collector
answered, but not with the success it must), "failed" (no answer) or "no_cluster"."""
from __future__ import annotations

from collections import namedtuple

from ..http.filters.ext_authz_grpc import CallFailed, GrpcCheck
from ..http.side_request import SideRequestFailed, send

EXPORT_PATH = b"/opentelemetry.proto.collector.trace.v1.TraceService/Export"
HTTP_SUCCESS = frozenset((200, 202))


def http_post(cluster_manager, cluster, path, headers, body, timeout, accepted):
    """POST ``body`` to ``path`` of ``cluster``; "sent" when the status is in ``accepted``."""
    try:
        response = send(cluster_manager, cluster, b"POST", path, headers, body, timeout)
    except SideRequestFailed as failure:
        return "no_cluster" if failure.reason == "no_cluster" else "failed"
    return "sent" if response.status in accepted else "dropped"


def zipkin_headers(provider, content_type):
    host = provider.collector_hostname or provider.collector_cluster
    return [(b"host", host.encode()), (b"content-type", content_type),
            (b"x-envoy-internal", b"true")]


def otlp_http_headers(provider):
    host = provider.http_host or provider.http_cluster
    headers = [(b"host", host.encode()), (b"content-type", b"application/x-protobuf"),
               (b"x-envoy-internal", b"true")]
    headers += [(name.encode(), value.encode()) for name, value in provider.http_headers]
    return headers


_Service = namedtuple("_Service", "cluster authority timeout initial_metadata")


class GrpcExport:
    """OTLP's TraceService/Export, unary, over the cluster's HTTP/2 pools: the ext_authz gRPC
    client's call with its method path."""

    def __init__(self, cluster_manager, provider):
        service = _Service(provider.grpc_cluster, provider.grpc_authority,
                           provider.grpc_timeout or 5.0, provider.grpc_initial_metadata)
        self.call = GrpcCheck(cluster_manager, service)
        self.call.headers = [(name, EXPORT_PATH if name == b":path" else value)
                             for name, value in self.call.headers]

    def __call__(self, body):
        try:
            self.call.call(body)
        except CallFailed as failure:
            return "no_cluster" if failure.reason == "no_cluster" else "failed"
        return "sent"


