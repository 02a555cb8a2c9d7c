"""Span batches as the collectors read them: Zipkin JSON v2 and proto3, OTLP's
ExportTraceServiceRequest (each decoded by an independent decoder: json, protobuf)."""
import json

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hotproxy.tracing import otlp, zipkin
from hotproxy.tracing.span import CLIENT, SERVER, Span
from trace_collectors import otlp_spans, zipkin_proto_spans

LOCAL = ("svc-a", "10.1.2.3")


def spans():
    server = Span("checkout", 0x463ac35c9f6413ad48485a3953bb6124, True, 0xa2fb4a1d1a96d312, 0,
                  SERVER, 1_700_000_000_000_000, True, shared=True)
    server.duration_us = 1500
    server.tags = {"http.status_code": "503", "error": "true"}
    client = Span("router next egress", 0x463ac35c9f6413ad, False, 0x1111, 0xa2fb4a1d1a96d312,
                  CLIENT, 1_700_000_000_000_100, True, tracestate=b"k=v")
    client.duration_us = 1000
    client.annotate(1_700_000_000_000_200, "first byte")
    return [server, client]


def test_zipkin_json():
    server, client = json.loads(zipkin.encode_json(spans(), LOCAL))
    assert server == {
        "traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312",
        "name": "checkout", "kind": "SERVER", "timestamp": 1_700_000_000_000_000,
        "duration": 1500, "shared": True,
        "localEndpoint": {"serviceName": "svc-a", "ipv4": "10.1.2.3", "port": 0},
        "annotations": [{"timestamp": 1_700_000_000_001_500, "value": "ss"}],
        "tags": {"http.status_code": "503", "error": "true"}}
    assert (client["traceId"], client["id"], client["parentId"], client["kind"]) == (
        "463ac35c9f6413ad", "0000000000001111", "a2fb4a1d1a96d312", "CLIENT")
    assert [a["value"] for a in client["annotations"]] == ["first byte", "cr"]
    assert "shared" not in client


def test_zipkin_proto_says_what_the_json_says():
    from_proto = zipkin_proto_spans(zipkin.encode_proto(spans(), LOCAL))
    from_json = json.loads(zipkin.encode_json(spans(), LOCAL))
    for decoded, reference in zip(from_proto, from_json):
        for key in ("traceId", "id", "name", "kind", "timestamp", "duration", "tags",
                    "annotations"):
            assert decoded[key] == reference[key], key
        assert decoded.get("parentId") == reference.get("parentId")
        assert decoded.get("shared") == reference.get("shared")
        assert decoded["localEndpoint"]["serviceName"] == "svc-a"


def test_otlp_export_request():
    body = otlp.encode(spans(), otlp.resource("shop", (("deployment.environment", "prod"),)))
    server, client = otlp_spans(ExportTraceServiceRequest.FromString(body))
    resource = server["resource"]
    assert (resource["service.name"], resource["deployment.environment"]) == ("shop", "prod")
    assert (resource["telemetry.sdk.name"], resource["telemetry.sdk.language"]) == (
        "hotproxy", "python")
    assert (server["traceId"], server["id"], server["kind"], server["name"]) == (
        "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312", "SERVER", "checkout")
    assert server["end"] - server["start"] == 1_500_000
    assert server["status"] == 2 and server["tags"]["error"] == "true"
    assert "parentId" not in server
    assert (client["parentId"], client["kind"], client["tracestate"]) == (
        "a2fb4a1d1a96d312", "CLIENT", "k=v")
    assert client["traceId"] == "0000000000000000463ac35c9f6413ad"
    assert client["status"] == 0
