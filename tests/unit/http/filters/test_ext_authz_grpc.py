"""ext_authz with a gRPC service, sans-IO: the CheckRequest built for a request, what each kind of
CheckResponse decides and does to the stream (the call replaced by a fake), and how the call
reads the HTTP/2 response events."""
import struct

import pytest

pytest.importorskip("envoy.service.auth.v3.external_auth_pb2")

from envoy.service.auth.v3 import external_auth_pb2 as auth  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402

from hotproxy.config.fields import Context, Node  # noqa: E402
from hotproxy.config.http_filters import ext_authz as config_module  # noqa: E402
from hotproxy.http.filters import ext_authz, ext_authz_check, ext_authz_grpc  # noqa: E402
from hotproxy.http.filters.api import FilterContext  # noqa: E402
from hotproxy.http.http2 import events as ev  # noqa: E402

from filter_fakes import FakeRequest, FakeStream  # noqa: E402


def config(**fields):
    ctx = Context()
    value = config_module.parse(Node({"grpc_service": {"envoy_grpc": {"cluster_name": "authz"}},
                                      **fields}, "f", ctx))
    assert ctx.problems == []
    return value


def stream(headers=(), method=b"POST", target=b"/a?b=1", per_route=None):
    request = FakeRequest(method, target, b"svc", [(b"content-length", b"6"), *headers])
    the_stream = FakeStream(request, per_route=per_route or {})
    the_stream.connection.scheme, the_stream.connection.protocol = b"http", "HTTP/1.1"
    return the_stream


def built(the_stream, allowed=None, **options):
    return auth.CheckRequest.FromString(ext_authz_check.check_request(the_stream, allowed, **options))


# --- the CheckRequest ---------------------------------------------------------------------


def test_check_request_attributes_and_header_map():
    check = built(stream([(b"x-a", b"1"), (b"x-a", b"2"), (b"authorization", b"t")]))
    attributes = check.attributes
    assert attributes.source.address.socket_address.address == "10.0.0.1"
    assert attributes.source.address.socket_address.port_value == 40000
    assert attributes.destination.address.socket_address.address == "10.0.0.2"
    assert attributes.destination.address.socket_address.port_value == 8080
    http = attributes.request.http
    assert (http.method, http.path, http.host, http.scheme, http.protocol) == (
        "POST", "/a?b=1", "svc", "http", "HTTP/1.1")
    assert http.id.isdigit() and http.size == 0 and not http.body
    assert dict(http.headers) == {":method": "POST", ":path": "/a?b=1", ":scheme": "http",
                                  ":authority": "svc", "content-length": "6", "x-a": "1,2",
                                  "authorization": "t"}
    assert attributes.HasField("metadata_context") and attributes.HasField("route_metadata_context")


def test_allowed_headers_select_the_map():
    check = built(stream([(b"x-a", b"1"), (b"x-b", b"2")]), allowed=lambda name: name == b"x-a")
    assert dict(check.attributes.request.http.headers) == {"x-a": "1"}


def test_body_partial_and_packed():
    http = built(stream(), body=b"abcd", partial=True).attributes.request.http
    assert (http.size, http.body, http.raw_body) == (6, "abcd", b"")
    assert http.headers["x-envoy-auth-partial-body"] == "true"
    http = built(stream(), body=b"\xff\x00", pack_as_bytes=True).attributes.request.http
    assert http.raw_body == b"\xff\x00" and http.headers["x-envoy-auth-partial-body"] == "false"


def test_context_extensions():
    check = built(stream(), context_extensions=(("a", "b"),))
    assert dict(check.attributes.context_extensions) == {"a": "b"}


# --- the CheckResponse's decision ---------------------------------------------------------


def response(code=0, **fields):
    message = auth.CheckResponse(**fields)
    message.status.code = code
    return message.SerializeToString()


def test_ok_decision():
    ok = auth.OkHttpResponse(headers_to_remove=["X-Gone"])
    ok.headers.add(header={"key": "X-Set", "value": "1"})
    ok.headers.add(header={"key": "x-add", "value": "2"}, append={"value": True})
    ok.headers.add(header={"key": "x-action", "value": "3"}, append_action="ADD_IF_ABSENT")
    ok.response_headers_to_add.add(header={"key": "x-note", "value": "n"})
    metadata = struct_pb2.Struct(fields={"user": struct_pb2.Value(string_value="alice")})
    decision = ext_authz_check.decide(response(ok_response=ok, dynamic_metadata=metadata))
    assert decision.kind == "ok"
    # append_action is not looked at: Envoy 1.40 sets such a header
    assert decision.to_set == [(b"x-set", b"1"), (b"x-action", b"3")]
    assert decision.to_append == [(b"x-add", b"2")] and decision.to_remove == [b"x-gone"]
    assert decision.to_client == [(b"x-note", b"n")] and decision.metadata == {"user": "alice"}


def test_denied_and_error_decisions():
    denied = auth.DeniedHttpResponse(body="no")
    denied.status.code = 401
    denied.headers.add(header={"key": "x-why", "value": "w"})
    decision = ext_authz_check.decide(response(7, denied_response=denied))
    assert (decision.kind, decision.status, decision.body, decision.headers) == (
        "denied", 401, b"no", [(b"x-why", b"w")])
    decision = ext_authz_check.decide(response(3))
    assert (decision.kind, decision.status, decision.body) == ("denied", 403, b"")
    error = auth.CheckResponse(error_response={"body": "broke"})
    error.status.code = 14
    decision = ext_authz_check.decide(error.SerializeToString())
    assert (decision.kind, decision.status, decision.body) == ("error", None, b"broke")


def test_garbage_is_a_value_error():
    with pytest.raises(ValueError):
        ext_authz_check.decide(b"\xff\xff\xff")


# --- the filter with a fake call ----------------------------------------------------------


class FakeCall:
    def __init__(self, answer):
        self.answer = answer
        self.sent = []

    def call(self, message):
        self.sent.append(auth.CheckRequest.FromString(message))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def run(answer, the_stream=None, **fields):
    factory = ext_authz.ExtAuthzFactory(config(**fields), FilterContext(None, "http.x.", None))
    factory.grpc = FakeCall(answer)
    the_stream = the_stream or stream([(b"x-multi", b"client"), (b"x-gone", b"g")])
    the_stream.filter = factory.create(the_stream)
    result = the_stream.run_request(the_stream.filter, [b"abcdef"])
    return factory, the_stream, result


def test_ok_applies_the_headers():
    ok = auth.OkHttpResponse(headers_to_remove=["x-gone", "host"])
    ok.headers.add(header={"key": "x-multi", "value": "authz"}, append={"value": True})
    ok.headers.add(header={"key": "host", "value": "evil"})
    ok.response_headers_to_add.add(header={"key": "x-note", "value": "n"})
    factory, the_stream, result = run(response(ok_response=ok))
    assert result == (True, b"abcdef") and factory.stats.ok == 1
    headers = the_stream.request.headers
    assert (b"x-multi", b"client,authz") in headers and (b"host", b"svc") in headers
    assert not any(name == b"x-gone" for name, _ in headers)
    answered, _ = the_stream.run_response(the_stream.filter)
    assert (b"x-note", b"n") in answered.headers


def test_denied_answers_with_the_service_response():
    denied = auth.DeniedHttpResponse(body="no")
    denied.status.code = 401
    factory, the_stream, _ = run(response(7, denied_response=denied))
    assert the_stream.local_reply[:2] == (401, b"no") and the_stream.local_reply[3:] == (
        "ext_authz_denied", "UAEX")
    assert factory.stats.denied == 1


@pytest.mark.parametrize("answer", [ext_authz_grpc.CallFailed("timeout"), b"\xff\xff"])
def test_a_failed_call_is_an_error(answer):
    factory, the_stream, _ = run(answer, status_on_error={"code": 503})
    assert the_stream.local_reply[0] == 503 and the_stream.local_reply[3:] == (
        "ext_authz_error", "UAEX")
    assert factory.stats.error == 1


def test_error_response_and_failure_mode_allow():
    error = auth.CheckResponse(error_response={"body": "broke", "status": {"code": 502}})
    error.status.code = 14
    factory, the_stream, _ = run(error.SerializeToString())
    assert the_stream.local_reply[:2] == (502, b"broke")
    factory, the_stream, result = run(error.SerializeToString(), failure_mode_allow=True,
                                      failure_mode_allow_header_add=True)
    assert result[0] is True and the_stream.local_reply is None
    assert (b"x-envoy-auth-failure-mode-allowed", b"true") in the_stream.request.headers
    assert factory.stats.error == 1 and factory.stats.failure_mode_allowed == 1


def test_body_and_context_extensions_reach_the_call():
    per_route = config_module.ExtAuthzPerRoute(context_extensions=(("k", "v"),))
    the_stream = stream(per_route={"envoy.filters.http.ext_authz": per_route})
    factory, _, _ = run(response(), the_stream, with_request_body={"max_request_bytes": 4,
                                                                   "allow_partial_message": True})
    sent = factory.grpc.sent[0].attributes
    assert sent.request.http.body == "abcd" and dict(sent.context_extensions) == {"k": "v"}


# --- reading the call's response ----------------------------------------------------------


class FakeH2Request:
    def __init__(self, events):
        self.events = list(events)
        self.complete = False
        self.acknowledged = 0

    def next_event(self):
        return self.events.pop(0)

    def consumed(self, length):
        self.acknowledged += length


def framed(message):
    return struct.pack(">BI", 0, len(message)) + message


def test_answer_reads_the_message_once_the_status_is_ok():
    body = framed(b"hello")
    request = FakeH2Request([ev.ResponseHeaders(1, 200, [(b"content-type", b"application/grpc")], False),
                             ev.ResponseData(1, body[:3], False, 3),
                             ev.ResponseData(1, body[3:], False, len(body) - 3),
                             ev.ResponseTrailers(1, [(b"grpc-status", b"0")])])
    assert ext_authz_grpc._answer(request) == b"hello"
    assert request.complete and request.acknowledged == len(body)


@pytest.mark.parametrize("events, reason", [
    ([ev.ResponseHeaders(1, 200, [(b"grpc-status", b"14")], True)], "grpc_status_14"),
    ([ev.ResponseHeaders(1, 503, [], True)], "http_503"),
    ([ev.ResponseHeaders(1, 200, [], False), ev.ResponseData(1, b"\x01\x00\x00\x00\x00", False, 5),
      ev.ResponseTrailers(1, [(b"grpc-status", b"0")])], "bad_message"),
    ([ev.ResponseHeaders(1, 200, [], False), ev.ResponseData(1, b"", True, 0)], "grpc_status_missing"),
])
def test_answer_failures(events, reason):
    with pytest.raises(ext_authz_grpc.CallFailed) as failed:
        ext_authz_grpc._answer(FakeH2Request(events))
    assert failed.value.reason == reason


def test_call_without_an_http2_cluster():
    class Cluster:
        http2 = None

    class Manager:
        clusters = {}

        def get(self, name):
            return Cluster()

    check = ext_authz_grpc.GrpcCheck(Manager(), config().grpc_service)
    assert (b"grpc-timeout", b"200m") in check.headers and (b":authority", b"authz") in check.headers
    with pytest.raises(ext_authz_grpc.CallFailed) as failed:
        check.call(b"")
    assert failed.value.reason == "not_http2"
