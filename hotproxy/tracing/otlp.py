"""OTLP ExportTraceServiceRequest (opentelemetry.proto.collector.trace.v1) for a batch of spans,
as Envoy's OpenTelemetry tracer exports them: one resource (service.name and the detectors'
attributes), one scope, every tag a string attribute; a span tagged ``error`` has status
ERROR."""
from __future__ import annotations

from . import protowire as pw
from .span import CLIENT, SERVER

_KIND_NUMBERS = {SERVER: 2, CLIENT: 3}
_STATUS_ERROR = 2


def resource(service_name, attributes):
    """The encoded Resource message, made once per tracer: the SDK's attributes (this one's,
    where Envoy names itself), service.name, then the detectors'."""
    pairs = [("telemetry.sdk.name", "hotproxy"), ("telemetry.sdk.language", "python"),
             ("telemetry.sdk.version", _version()), ("service.name", service_name), *attributes]
    return b"".join(pw.length_delimited(1, _key_value(key, value)) for key, value in pairs)


def _version():
    try:
        from importlib.metadata import version
        return version("hotproxy")
    except Exception:   # an uninstalled tree
        return "unknown"


def encode(spans, resource_bytes):
    scope = pw.length_delimited(1, pw.string(1, "envoy"))
    scope_spans = scope + b"".join(pw.length_delimited(2, _span(span)) for span in spans)
    resource_spans = (pw.length_delimited(1, resource_bytes)
                      + pw.length_delimited(2, scope_spans))
    return pw.length_delimited(1, resource_spans)


def _key_value(key, value):
    return pw.string(1, key) + pw.length_delimited(2, pw.length_delimited(1, value.encode()))


def _span(span):
    parts = [pw.length_delimited(1, span.trace_id.to_bytes(16, "big")),
             pw.length_delimited(2, span.span_id.to_bytes(8, "big"))]
    if span.tracestate:
        parts.append(pw.length_delimited(3, bytes(span.tracestate)))
    if span.parent_id:
        parts.append(pw.length_delimited(4, span.parent_id.to_bytes(8, "big")))
    start_ns = span.start_us * 1000
    parts += [pw.string(5, span.name), pw.uint(6, _KIND_NUMBERS[span.kind]),
              pw.fixed64(7, start_ns), pw.fixed64(8, start_ns + span.duration_us * 1000)]
    for key, value in span.tags.items():
        parts.append(pw.length_delimited(9, _key_value(key, value)))
    for at_us, text in span.annotations or ():
        # Span.events: time_unix_nano (1), name (2)
        parts.append(pw.length_delimited(11, pw.fixed64(1, at_us * 1000) + pw.string(2, text)))
    if span.tags.get("error") == "true":
        parts.append(pw.length_delimited(15, pw.uint(3, _STATUS_ERROR)))
    return b"".join(parts)
