"""Fake trace collectors for the tracing tests (unit and integration), in the test process: a
Zipkin collector (HTTP, JSON v2 or zipkin.proto3's ListOfSpans, decoded with protobuf from a
schema written here) and OTLP collectors over HTTP and gRPC (opentelemetry-proto's messages).
Each keeps every span it
received as a dict in Zipkin v2 JSON's shape, so that tests read both providers alike."""
from __future__ import annotations

import json
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def _zipkin_list_of_spans():
    """zipkin.proto3's ListOfSpans (openzipkin/zipkin-api zipkin.proto), as a message class."""
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="test_zipkin.proto", package="zipkin.proto3",
                                               syntax="proto3")

    def message(name, *fields, nested=()):
        m = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = type_name
        for n in nested:
            m.nested_type.add().CopyFrom(n)
        return m

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("Endpoint", ("service_name", 1, F.TYPE_STRING, opt, None),
            ("ipv4", 2, F.TYPE_BYTES, opt, None), ("ipv6", 3, F.TYPE_BYTES, opt, None),
            ("port", 4, F.TYPE_INT32, opt, None))
    message("Annotation", ("timestamp", 1, F.TYPE_FIXED64, opt, None),
            ("value", 2, F.TYPE_STRING, opt, None))
    tags_entry = descriptor_pb2.DescriptorProto(name="TagsEntry")
    tags_entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=opt)
    tags_entry.field.add(name="value", number=2, type=F.TYPE_STRING, label=opt)
    tags_entry.options.map_entry = True
    message("Span", ("trace_id", 1, F.TYPE_BYTES, opt, None),
            ("parent_id", 2, F.TYPE_BYTES, opt, None), ("id", 3, F.TYPE_BYTES, opt, None),
            ("kind", 4, F.TYPE_INT32, opt, None), ("name", 5, F.TYPE_STRING, opt, None),
            ("timestamp", 6, F.TYPE_FIXED64, opt, None), ("duration", 7, F.TYPE_UINT64, opt, None),
            ("local_endpoint", 8, F.TYPE_MESSAGE, opt, ".zipkin.proto3.Endpoint"),
            ("remote_endpoint", 9, F.TYPE_MESSAGE, opt, ".zipkin.proto3.Endpoint"),
            ("annotations", 10, F.TYPE_MESSAGE, rep, ".zipkin.proto3.Annotation"),
            ("tags", 11, F.TYPE_MESSAGE, rep, ".zipkin.proto3.Span.TagsEntry"),
            ("debug", 12, F.TYPE_BOOL, opt, None), ("shared", 13, F.TYPE_BOOL, opt, None),
            nested=(tags_entry,))
    message("ListOfSpans", ("spans", 1, F.TYPE_MESSAGE, rep, ".zipkin.proto3.Span"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("zipkin.proto3.ListOfSpans"))


ListOfSpans = _zipkin_list_of_spans()
_ZIPKIN_KINDS = {1: "CLIENT", 2: "SERVER"}
_OTLP_KINDS = {2: "SERVER", 3: "CLIENT"}


def zipkin_proto_spans(body):
    spans = []
    for span in ListOfSpans.FromString(body).spans:
        out = {"traceId": span.trace_id.hex(), "id": span.id.hex(), "name": span.name,
               "kind": _ZIPKIN_KINDS.get(span.kind), "timestamp": span.timestamp,
               "duration": span.duration, "tags": dict(span.tags),
               "localEndpoint": {"serviceName": span.local_endpoint.service_name},
               "annotations": [{"timestamp": a.timestamp, "value": a.value}
                               for a in span.annotations]}
        if span.parent_id:
            out["parentId"] = span.parent_id.hex()
        if span.shared:
            out["shared"] = True
        spans.append(out)
    return spans


def otlp_spans(request):
    """Spans of an ExportTraceServiceRequest, with its resource's attributes as "resource"."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out = {"traceId": span.trace_id.hex(), "id": span.span_id.hex(),
                       "name": span.name, "kind": _OTLP_KINDS.get(span.kind),
                       "tags": {a.key: a.value.string_value for a in span.attributes},
                       "resource": resource, "tracestate": span.trace_state,
                       "status": span.status.code,
                       "start": span.start_time_unix_nano, "end": span.end_time_unix_nano}
                if span.parent_span_id:
                    out["parentId"] = span.parent_span_id.hex()
                spans.append(out)
    return spans


class _Spans:
    def __init__(self):
        self.spans = []
        self.requests = []      # (path, headers) of every report
        self.lock = threading.Lock()

    def add(self, spans):
        with self.lock:
            self.spans.extend(spans)

    def wait_for(self, count, timeout=20.0):
        """The spans once at least ``count`` have come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.spans)} spans reached the collector, expected {count}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        collector = self.server.collector
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if not size:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        collector.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        collector.add(collector.decode(self.headers.get("Content-Type", ""), body))
        self.send_response(collector.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _HttpCollector(_Spans):
    def __init__(self, status):
        super().__init__()
        self.status = status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.collector = self
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ZipkinCollector(_HttpCollector):
    """Answers 202, as Zipkin does (``status`` otherwise)."""

    def __init__(self, status=202):
        super().__init__(status)

    @staticmethod
    def decode(content_type, body):
        if content_type == "application/x-protobuf":
            return zipkin_proto_spans(body)
        return json.loads(body)


class OtlpHttpCollector(_HttpCollector):
    def __init__(self, status=200):
        super().__init__(status)

    @staticmethod
    def decode(content_type, body):
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        return otlp_spans(trace_service_pb2.ExportTraceServiceRequest.FromString(body))


class OtlpGrpcCollector(_Spans):
    """opentelemetry.proto.collector.trace.v1.TraceService over gRPC (h2c)."""

    def __init__(self):
        super().__init__()
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        collector = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                collector.requests.append(("Export", dict(context.invocation_metadata())))
                collector.add(otlp_spans(request))
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self):
        self.server.stop(None)
