"""The two providers' ways with spans: how a connection manager's span starts from the request's
headers, how the router's child span relates to it, how the context is written for the next
hop, and how batches are encoded and counted. One driver a worker per provider config, shared
by every connection manager that names it (Envoy's tracer is a server-wide singleton too)."""
from __future__ import annotations

import logging
from random import getrandbits

from ..runtime import get_integer
from . import b3, otlp, w3c, zipkin
from .exporters import (HTTP_SUCCESS, GrpcExport, http_post, otlp_http_headers,
                        zipkin_headers)
from .local_info import LOCAL
from .reporter import Reporter
from .span import CLIENT, SERVER, Span, new_id
from .stats import OpenTelemetryStats, ZipkinStats

log = logging.getLogger(__name__)

_ZIPKIN_ACCEPTED = frozenset((202,))    # Envoy counts anything else as reports_dropped


class ZipkinDriver:
    stat_prefix = "tracing.zipkin."

    def __init__(self, provider, cluster_manager):
        self.provider = provider
        self.shared = provider.shared_span_context
        self.wide = provider.trace_id_128bit
        self.stats = ZipkinStats()
        proto = provider.collector_endpoint_version == "HTTP_PROTO"
        self._encode = zipkin.encode_proto if proto else zipkin.encode_json
        self._headers = zipkin_headers(provider, b"application/x-protobuf" if proto
                                       else b"application/json")
        self._cluster_manager = cluster_manager
        self.reporter = Reporter("zipkin", self.stats, self._export, self._count)

    def start(self, headers, traced, host, start_us, ingress=True):
        """The connection manager's span, None when the headers' context is malformed.
        Returns (span, how to write the context: (single ``b3`` header, some B3 header is
        there already))."""
        try:
            found = b3.extract(headers)
        except b3.Malformed:
            return None, None
        sampled = found.sampled if found.sampled is not None else traced
        name = host.decode("latin-1")
        if not found.span_id:
            span_id = new_id()
            trace_id = (getrandbits(64) << 64 | span_id) if self.wide else span_id
            # Envoy marks an ingress span shared whenever the config shares span contexts
            span = Span(name, trace_id, self.wide, span_id, 0, SERVER if ingress else CLIENT,
                        start_us, sampled, shared=ingress and self.shared)
        else:
            span = self._joined(name, found.trace_id, found.wide, found.span_id,
                                found.parent_id, start_us, sampled, ingress)
        return span, (found.single, found.present)

    def _joined(self, name, trace_id, wide, span_id, parent_id, start_us, sampled, ingress):
        """A span in the caller's trace: with a shared span context an ingress span takes the
        caller's id (Zipkin's server half of the client's span)."""
        if ingress and self.shared:
            span = Span(name, trace_id, wide, span_id, parent_id, SERVER, start_us, sampled,
                        shared=True)
        else:
            span = Span(name, trace_id, wide, new_id(), span_id, SERVER if ingress else CLIENT,
                        start_us, sampled)
        return span

    def child(self, parent, name, start_us, ingress=True):
        """The router's span: Envoy makes it as it makes the connection manager's, joined to
        it (so with a shared span context, on an ingress listener, it has the same id)."""
        return self._joined(name, parent.trace_id, parent.wide, parent.span_id, parent.parent_id
                            if ingress and self.shared else 0, start_us, parent.sampled, ingress)

    def inject(self, headers, span, how):
        single, present = how
        b3.inject(headers, span, single, present)

    def _export(self, spans):
        provider = self.provider
        body = self._encode(spans, (LOCAL.cluster, LOCAL.address))
        timeout = get_integer("tracing.zipkin.request_timeout", 5000) / 1000
        return http_post(self._cluster_manager, provider.collector_cluster,
                         provider.collector_endpoint.encode(), self._headers, body, timeout,
                         _ZIPKIN_ACCEPTED)

    def _count(self, outcome, spans=0):
        stats = self.stats
        if outcome == "sent":
            stats.reports_sent += 1
        elif outcome == "dropped":
            stats.reports_dropped += 1
        elif outcome == "no_cluster":
            stats.reports_skipped_no_cluster += 1
        else:
            stats.reports_failed += 1


class OpenTelemetryDriver:
    stat_prefix = "tracing.opentelemetry."

    def __init__(self, provider, cluster_manager):
        self.provider = provider
        self.stats = OpenTelemetryStats()
        self._resource = otlp.resource(provider.service_name, provider.resource_attributes)
        self._cluster_manager = cluster_manager
        self._grpc = GrpcExport(cluster_manager, provider) if provider.grpc_cluster else None
        self._headers = otlp_http_headers(provider)
        self.reporter = Reporter("opentelemetry", self.stats, self._export, self._count)

    def start(self, headers, traced, host, start_us, ingress=True):
        try:
            found = w3c.extract(headers)
        except w3c.Malformed:
            return None, None
        name = "ingress" if ingress else "egress " + host.decode("latin-1")
        kind = SERVER if ingress else CLIENT
        if found is None:
            return Span(name, getrandbits(128) or 1, True, new_id(), 0, kind, start_us,
                        traced), None
        trace_id, parent_id, sampled, state = found
        return Span(name, trace_id, True, new_id(), parent_id, kind, start_us, sampled,
                    tracestate=state), None

    def child(self, parent, name, start_us, ingress=True):
        return Span(name, parent.trace_id, True, new_id(), parent.span_id, CLIENT, start_us,
                    parent.sampled, tracestate=parent.tracestate)

    def inject(self, headers, span, how):
        w3c.inject(headers, span)

    def _export(self, spans):
        body = otlp.encode(spans, self._resource)
        if self._grpc is not None:
            return self._grpc(body)
        provider = self.provider
        if not provider.http_cluster:
            return "sent"       # no exporter configured: Envoy drops the spans silently too
        return http_post(self._cluster_manager, provider.http_cluster,
                         provider.http_path.encode(), self._headers, body,
                         provider.http_timeout, HTTP_SUCCESS)

    def _count(self, outcome, spans=0):
        """Envoy 1.40 counts no export outcome; the spans of a batch that did not reach the
        collector count as dropped here (Envoy's spans_dropped counts a full buffer's)."""
        if outcome != "sent":
            self.stats.spans_dropped += spans


_DRIVERS = {}   # (id(cluster manager), provider config) → driver


def driver_for(provider, cluster_manager):
    key = (id(cluster_manager), provider)
    driver = _DRIVERS.get(key)
    if driver is None:
        kind = ZipkinDriver if provider.name == "zipkin" else OpenTelemetryDriver
        driver = _DRIVERS[key] = kind(provider, cluster_manager)
    return driver
