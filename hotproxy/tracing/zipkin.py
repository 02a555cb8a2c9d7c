"""Zipkin v2 span batches as Envoy's Zipkin tracer POSTs them: JSON (HTTP_JSON, a list of
spans) or protobuf (HTTP_PROTO, zipkin.proto3's ListOfSpans)."""
from __future__ import annotations

import socket
from json import dumps

from . import protowire as pw
from .span import CLIENT, SERVER

_KIND_NUMBERS = {CLIENT: 1, SERVER: 2}
#: the annotation a span ends with: server send, client receive
_END_ANNOTATIONS = {SERVER: "ss", CLIENT: "cr"}


def encode_json(spans, local):
    """``local``: (service name, IPv4 address text) of this proxy (local_info.py). Written by
    hand around json.dumps of the parts that need escaping: the batch leaves a worker that also
    serves requests."""
    service, address = local
    endpoint = '"localEndpoint":{"serviceName":%s,"ipv4":"%s","port":0}' % (
        dumps(service), address)
    return ("[" + ",".join(_json_span(span, endpoint) for span in spans) + "]").encode()


def _json_span(span, endpoint):
    end = span.start_us + span.duration_us
    annotations = '{"timestamp":%d,"value":"%s"}' % (end, _END_ANNOTATIONS[span.kind])
    if span.annotations:
        annotations = ",".join('{"timestamp":%d,"value":%s}' % (at, dumps(text))
                               for at, text in span.annotations) + "," + annotations
    parent = ',"parentId":"%016x"' % span.parent_id if span.parent_id else ""
    return ('{"traceId":"%s","id":"%016x"%s,"name":%s,"kind":"%s","timestamp":%d,'
            '"duration":%d,%s,"annotations":[%s],"tags":%s%s}' % (
                span.trace_hex, span.span_id, parent, dumps(span.name), span.kind,
                span.start_us, span.duration_us, endpoint, annotations,
                dumps(_tags(span), separators=(",", ":")),
                ',"shared":true' if span.shared else ""))


def _tags(span):
    """Envoy's Zipkin spans keep no tag with an empty value (an unset zone, ...)."""
    return {key: value for key, value in span.tags.items() if value}


def _annotations(span):
    end = [(span.start_us + span.duration_us, _END_ANNOTATIONS[span.kind])]
    return [{"timestamp": at, "value": text} for at, text in (span.annotations or []) + end]


def encode_proto(spans, local):
    service, address = local
    endpoint = pw.string(1, service)
    try:
        endpoint += pw.length_delimited(2, socket.inet_aton(address))
    except OSError:
        pass
    endpoint = pw.length_delimited(8, endpoint)
    return b"".join(pw.length_delimited(1, _proto_span(span, endpoint)) for span in spans)


def _proto_span(span, endpoint):
    trace = span.trace_id.to_bytes(16 if span.wide else 8, "big")
    parts = [pw.length_delimited(1, trace)]
    if span.parent_id:
        parts.append(pw.length_delimited(2, span.parent_id.to_bytes(8, "big")))
    parts += [pw.length_delimited(3, span.span_id.to_bytes(8, "big")),
              pw.uint(4, _KIND_NUMBERS[span.kind]), pw.string(5, span.name),
              pw.fixed64(6, span.start_us), pw.uint(7, span.duration_us), endpoint]
    for item in _annotations(span):
        parts.append(pw.length_delimited(10, pw.fixed64(1, item["timestamp"])
                                         + pw.string(2, item["value"])))
    for key, value in _tags(span).items():
        parts.append(pw.length_delimited(11, pw.string(1, key) + pw.string(2, value)))
    parts.append(pw.boolean(13, span.shared))
    return b"".join(parts)
