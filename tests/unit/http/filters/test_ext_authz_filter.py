"""ext_authz, sans-IO: its config, the check request's headers, and what each kind of answer
does to the stream (the callout replaced by a fake ``send``)."""
import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import ext_authz as config_module
from hotproxy.http.filters import ext_authz
from hotproxy.http.filters.api import FilterContext
from hotproxy.http.side_request import SideRequestFailed, SideResponse

from filter_fakes import FakeRequest, FakeStream

SERVICE = {"server_uri": {"uri": "http://authz", "cluster": "authz", "timeout": "0.5s"}}


def parsed(body, per_route=False):
    ctx = Context()
    parse = config_module.parse_per_route if per_route else config_module.parse
    value = parse(Node(body, "f", ctx))
    return value, ctx.problems


def config(**fields):
    value, problems = parsed({"http_service": SERVICE, **fields})
    assert problems == []
    return value


def test_defaults_and_cluster_reference():
    ctx = Context()
    value = config_module.parse(Node({"http_service": SERVICE}, "f", ctx))
    assert value.status_on_error == 403 and not value.failure_mode_allow
    assert value.http_service.cluster == "authz" and value.http_service.timeout == 0.5
    assert ctx.cluster_refs == [("f.http_service.server_uri.cluster", "authz")]
    assert hash(value) is not None


def test_grpc_service():
    ctx = Context()
    value = config_module.parse(Node({"grpc_service": {
        "envoy_grpc": {"cluster_name": "authz"}, "timeout": "0.5s",
        "initial_metadata": [{"key": "X-Tenant", "value": "t1"}]}}, "f", ctx))
    assert ctx.problems == [] and value.http_service is None
    assert value.grpc_service == config_module.GrpcService(
        cluster="authz", timeout=0.5, initial_metadata=(("x-tenant", "t1"),))
    assert ctx.cluster_refs == [("f.grpc_service.envoy_grpc.cluster_name", "authz")]
    value, _ = parsed({"grpc_service": {"envoy_grpc": {"cluster_name": "a"}}})
    assert value.grpc_service.timeout == 0.2


@pytest.mark.parametrize("body, path, words", [
    ({"grpc_service": {"google_grpc": {}}}, "f.grpc_service.google_grpc", "not supported"),
    ({"grpc_service": {}}, "f.grpc_service.envoy_grpc", "required"),
    ({"grpc_service": {"envoy_grpc": {}}}, "f.grpc_service.envoy_grpc.cluster_name", "required"),
    ({"grpc_service": {"envoy_grpc": {"cluster_name": "a"}}, "http_service": SERVICE}, "f",
     "only one of"),
    ({}, "f", "exactly one of http_service, grpc_service"),
])
def test_bad_grpc_service_names_the_field(body, path, words):
    _, problems = parsed(body)
    assert any(p == path and words in reason for p, reason in problems), problems


@pytest.mark.parametrize("body, path, words", [
    ({"http_service": {"server_uri": {"uri": "x", "cluster": "a"}}},
     "f.http_service.server_uri.timeout", "required"),
    ({"http_service": SERVICE, "with_request_body": {}}, "f.with_request_body.max_request_bytes",
     "greater than 0"),
    ({"http_service": SERVICE, "status_on_error": {"code": 42}}, "f.status_on_error.code", "StatusCode"),
    ({"http_service": SERVICE, "metadata_context_namespaces": ["a"]},
     "f.metadata_context_namespaces", "not supported"),
    ({"http_service": SERVICE, "bogus": 1}, "f.bogus", "unknown field"),
])
def test_bad_config_names_the_field(body, path, words):
    _, problems = parsed(body)
    assert any(p == path and words in reason for p, reason in problems), problems


def test_status_on_error_by_name_and_feature_flag():
    value = config(status_on_error={"code": "ServiceUnavailable"},
                   deny_at_disable={"default_value": {"value": True}})
    assert value.status_on_error == 503 and value.deny_at_disable


def test_per_route():
    value, problems = parsed({"disabled": True}, per_route=True)
    assert problems == [] and value.disabled
    value, problems = parsed({"check_settings": {"context_extensions": {"a": "b"},
                                                 "disable_request_body_buffering": True}}, True)
    assert problems == [] and value.disable_request_body_buffering
    assert value.context_extensions == (("a", "b"),)


# --- header selection ---------------------------------------------------------------------


def test_check_headers_default_selection():
    rules = ext_authz.CheckRules(config())
    request = FakeRequest(b"POST", b"/a?b=1", b"svc", [(b"authorization", b"Bearer t"),
                                                     (b"cookie", b"c=1"), (b"content-length", b"3")])
    assert rules.check_headers(request) == [
        (b"host", b"svc"), (b"content-length", b"0"), (b"authorization", b"Bearer t"),
        (b"x-envoy-internal", b"true"), (b"x-envoy-expected-rq-timeout-ms", b"500")]
    assert rules.check_target(request) == b"/a?b=1"


def test_check_headers_allowed_joined_and_added():
    rules = ext_authz.CheckRules(config(
        allowed_headers={"patterns": [{"prefix": "x-"}]},
        http_service={**SERVICE, "path_prefix": "/auth",
                      "authorization_request": {"headers_to_add": [{"key": "X-Add", "value": "1"}]}}))
    request = FakeRequest(b"GET", b"/p", b"svc", [(b"x-a", b"1"), (b"x-a", b"2"), (b"cookie", b"c"),
                                                 (b"x-add", b"client")])
    assert rules.check_headers(request, partial=True)[:5] == [
        (b"host", b"svc"), (b"content-length", b"0"), (b"x-a", b"1,2"), (b"x-add", b"1"),
        (b"x-envoy-auth-partial-body", b"true")]
    assert rules.check_target(request) == b"/auth/p"


def test_response_header_selection():
    rules = ext_authz.CheckRules(config(http_service={**SERVICE, "authorization_response": {
        "allowed_upstream_headers": {"patterns": [{"exact": "x-user"}]},
        "allowed_upstream_headers_to_append": {"patterns": [{"exact": "x-tag"}]},
        "allowed_client_headers_on_success": {"patterns": [{"prefix": "x-client"}]},
        "dynamic_metadata_from_headers": {"patterns": [{"exact": "x-user"}]},
        "allowed_client_headers": {"patterns": [{"exact": "x-why"}]}}}))
    answer = SideResponse(200, [(b"x-user", b"u"), (b"x-tag", b"t"), (b"x-client-a", b"c"),
                                (b"x-envoy-auth-headers-to-remove", b"cookie, x-b"),
                                (b"x-other", b"o")], b"")
    to_set, to_append, to_remove, to_client, metadata = rules.allowed(answer)
    assert to_set == [(b"x-user", b"u")] and to_append == [(b"x-tag", b"t")]
    assert to_remove == [b"cookie", b"x-b"] and to_client == [(b"x-client-a", b"c")]
    assert metadata == {"x-user": "u"}
    denied = SideResponse(401, [(b"x-why", b"w"), (b"www-authenticate", b"B"), (b"x-other", b"o"),
                                (b"content-length", b"2")], b"no")
    assert rules.denied_headers(denied) == [(b"x-why", b"w"), (b"www-authenticate", b"B"),
                                            (b"content-length", b"2")]


def test_denial_headers_default_to_all_but_host():
    rules = ext_authz.CheckRules(config())
    denied = SideResponse(401, [(b"host", b"h"), (b"x-a", b"1")], b"")
    assert rules.denied_headers(denied) == [(b"x-a", b"1")]


# --- the filter ---------------------------------------------------------------------------


class Callout:
    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def __call__(self, manager, cluster, method, target, headers, body, timeout):
        self.calls.append((cluster, method, target, headers, body, timeout))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def make(monkeypatch, answer, **fields):
    callout = Callout(answer)
    monkeypatch.setattr(ext_authz, "send", callout)
    factory = ext_authz.factory(config(**fields), FilterContext(None, "http.ingress.", None))
    return factory, callout


def test_allow_sets_upstream_headers_and_client_headers(monkeypatch):
    factory, callout = make(monkeypatch, SideResponse(200, [(b"x-user", b"u"), (b"x-c", b"1")], b""),
                            http_service={**SERVICE, "authorization_response": {
                                "allowed_upstream_headers": {"patterns": [{"exact": "x-user"}]},
                                "allowed_client_headers_on_success": {"patterns": [{"exact": "x-c"}]}}})
    stream = FakeStream(FakeRequest(headers=[(b"x-user", b"spoofed")]))
    filter_ = factory.create(stream)
    assert stream.run_request(filter_) == (True, b"")
    assert (b"x-user", b"u") in stream.request.headers
    assert (b"x-user", b"spoofed") not in stream.request.headers
    response, _ = stream.run_response(filter_)
    assert (b"x-c", b"1") in response.headers
    assert factory.stats.ok == 1 and factory.stat_sets()[0][0] == "http.ingress.ext_authz."


def test_deny_replies_with_the_service_status_body_and_headers(monkeypatch):
    factory, _ = make(monkeypatch, SideResponse(401, [(b"www-authenticate", b"Basic")], b"nope"),
                      stat_prefix="waf")
    stream = FakeStream()
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    assert stream.local_reply == (401, b"nope", [], "ext_authz_denied", "UAEX")
    stream.local_reply = None
    response, _ = stream.run_response(filter_, 401, [(b"content-type", b"text/plain"),
                                                     (b"www-authenticate", b"old")])
    assert response.headers[:2] == [(b"content-type", b"text/plain"), (b"www-authenticate", b"Basic")]
    assert response.headers[2][0] == b"x-envoy-upstream-service-time"
    assert factory.stats.denied == 1 and factory.stat_prefix == "http.ingress.ext_authz.waf."


@pytest.mark.parametrize("answer", [SideRequestFailed("timeout"), SideResponse(503, [], b"")])
def test_error_is_status_on_error(monkeypatch, answer):
    factory, _ = make(monkeypatch, answer)
    stream = FakeStream()
    stream.run_request(factory.create(stream))
    assert stream.local_reply[0] == 403 and stream.local_reply[3:] == ("ext_authz_error", "UAEX")
    assert factory.stats.error == 1


def test_failure_mode_allow_adds_the_header(monkeypatch):
    factory, _ = make(monkeypatch, SideRequestFailed("reset"), failure_mode_allow=True,
                      failure_mode_allow_header_add=True)
    stream = FakeStream()
    assert stream.run_request(factory.create(stream)) == (True, b"")
    assert stream.request.headers[-1] == (b"x-envoy-auth-failure-mode-allowed", b"true")
    assert factory.stats.error == 1 and factory.stats.failure_mode_allowed == 1


def test_with_request_body_buffers_and_sends_it(monkeypatch):
    factory, callout = make(monkeypatch, SideResponse(200, [], b""),
                            with_request_body={"max_request_bytes": 10})
    stream = FakeStream(FakeRequest(b"POST"))
    assert stream.run_request(factory.create(stream), [b"abc", b"def"]) == (True, b"abcdef")
    assert callout.calls[0][4] == b"abcdef"


def test_with_request_body_partial_and_too_large(monkeypatch):
    factory, callout = make(monkeypatch, SideResponse(200, [], b""), with_request_body={
        "max_request_bytes": 4, "allow_partial_message": True})
    stream = FakeStream(FakeRequest(b"POST"))
    assert stream.run_request(factory.create(stream), [b"abc", b"def", b"g"]) == (True, b"abcdefg")
    assert callout.calls[0][4] == b"abcd"
    factory, _ = make(monkeypatch, SideResponse(200, [], b""), with_request_body={"max_request_bytes": 4})
    stream = FakeStream(FakeRequest(b"POST"))
    stream.run_request(factory.create(stream), [b"abc", b"def"])
    assert stream.local_reply[0] == 413


def test_per_route_disabled_and_filter_enabled(monkeypatch):
    factory, callout = make(monkeypatch, SideResponse(403, [], b""))
    route_config, _ = parsed({"disabled": True}, per_route=True)
    stream = FakeStream(per_route={factory.name: route_config})
    assert stream.run_request(factory.create(stream)) == (True, b"")
    assert callout.calls == [] and factory.stats.disabled == 0
    factory, callout = make(monkeypatch, SideResponse(403, [], b""), filter_enabled={
        "default_value": {"numerator": 0}}, deny_at_disable={"default_value": {"value": True}})
    stream = FakeStream()
    stream.run_request(factory.create(stream))
    assert callout.calls == [] and factory.stats.disabled == 1 and stream.local_reply[0] == 403


def test_the_service_never_touches_framing_or_host(monkeypatch):
    factory, _ = make(monkeypatch, SideResponse(200, [
        (b"content-length", b"999"), (b"transfer-encoding", b"chunked"), (b"host", b"evil"),
        (b"x-envoy-auth-headers-to-remove", b"content-length, host, :path, x-gone"), (b"x-ok", b"1")], b""),
        http_service={**SERVICE, "authorization_response": {
            "allowed_upstream_headers": {"patterns": [{"safe_regex": {"regex": ".*"}}]},
            "allowed_upstream_headers_to_append": {"patterns": [{"exact": "transfer-encoding"}]}}})
    stream = FakeStream(FakeRequest(b"POST", headers=[(b"content-length", b"3"), (b"x-gone", b"1")]))
    stream.run_request(factory.create(stream), [b"abc"])
    # (the check's service time is one of the service's headers, as in Envoy)
    assert stream.request.headers[:3] == [(b"host", b"example.com"), (b"content-length", b"3"),
                                          (b"x-ok", b"1")]
    assert [name for name, _ in stream.request.headers[3:]] == [b"x-envoy-upstream-service-time"]
    assert stream.request.host == b"example.com"
