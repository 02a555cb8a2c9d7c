"""The runtime keys Envoy reads in the local_ratelimit, ext_authz, fault and compressor filters:
a value installed in the runtime changes what a request gets (limited or not, checked or not,
faulted or not, compressed or not); without the key the default applies, and a filter whose
config names no key never calls into the runtime."""
import random
from types import SimpleNamespace

import pytest

from hotproxy import runtime
from hotproxy import token_bucket
from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import compressor as compressor_config
from hotproxy.config.http_filters import ext_authz as ext_authz_config
from hotproxy.config.http_filters import fault as fault_config
from hotproxy.config.http_filters import local_ratelimit as lrl_config
from hotproxy.http.filters import compressor, ext_authz, fault, local_ratelimit, route_policy
from hotproxy.http.filters.api import FilterContext
from hotproxy.http.side_request import SideResponse
from filter_fakes import FakeRequest, FakeStream


@pytest.fixture(autouse=True)
def empty_snapshot():
    runtime.install({})
    token_bucket.share_through(None)
    yield
    runtime.install({})


def parsed(parse, body):
    ctx = Context()
    value = parse(Node(body, "f", ctx))
    assert ctx.problems == [], ctx.problems
    return value


def no_runtime(monkeypatch, *modules):
    def refuse(*args, **kwargs):
        raise AssertionError("the runtime was read")
    for module in modules:
        for name in ("get_boolean", "fraction_enabled"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)


# local_ratelimit: filter_enabled / filter_enforced

def lrl_factory(enabled, enforced):
    body = {"stat_prefix": "rl", "token_bucket": {"max_tokens": 1, "fill_interval": "60s"},
            "filter_enabled": enabled, "filter_enforced": enforced}
    factory = local_ratelimit.factory(parsed(lrl_config.parse, body), FilterContext(
        None, "http.in.", SimpleNamespace(service_cluster="svc")))
    factory.name = "rl"
    return factory


def lrl_status(factory):
    stream = FakeStream(FakeRequest(), route=SimpleNamespace(config=None, cluster_name="b",
                                                             vhost_rate_limits=()))
    filter_ = factory.create(stream)
    if filter_ is None:
        return "not enabled"
    stream.run_request(filter_)
    return stream.local_reply[0] if stream.local_reply else 200


def test_local_ratelimit_filter_enabled_and_enforced_keys():
    factory = lrl_factory(
        {"runtime_key": "rl.enabled", "default_value": {"numerator": 100}},
        {"runtime_key": "rl.enforced", "default_value": {"numerator": 100}})
    assert [lrl_status(factory) for _ in range(2)] == [200, 429]
    runtime.install({"rl.enforced": 0})             # limited, only counted
    assert lrl_status(factory) == 200
    runtime.install({"rl.enabled": {"numerator": 0}})
    assert lrl_status(factory) == "not enabled"
    runtime.install({"rl.enabled": "yes"})          # not a percentage: the default
    assert lrl_status(factory) == 429
    runtime.install({})
    off = lrl_factory({"runtime_key": "rl.enabled", "default_value": {"numerator": 0}},
                      {"default_value": {"numerator": 100}})
    assert lrl_status(off) == "not enabled"
    runtime.install({"rl.enabled": 100})            # the runtime turns a 0% default on
    assert [lrl_status(off) for _ in range(2)] == [200, 429]


def test_local_ratelimit_without_a_key_never_reads_the_runtime(monkeypatch):
    no_runtime(monkeypatch, route_policy)
    factory = lrl_factory({"default_value": {"numerator": 100}},
                          {"default_value": {"numerator": 100}})
    runtime.install({"rl.enabled": 0})
    assert [lrl_status(factory) for _ in range(2)] == [200, 429]


# ext_authz: filter_enabled and deny_at_disable

class Callout:
    def __init__(self):
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return SideResponse(403, [], b"")


def authz(monkeypatch, **fields):
    callout = Callout()
    monkeypatch.setattr(ext_authz, "send", callout)
    config = parsed(ext_authz_config.parse, {"http_service": {"server_uri": {
        "uri": "http://authz", "cluster": "authz", "timeout": "0.5s"}}, **fields})
    return ext_authz.factory(config, FilterContext(None, "http.in.", None)), callout


def authz_status(factory):
    stream = FakeStream()
    stream.run_request(factory.create(stream))
    return stream.local_reply[0] if stream.local_reply else 200


def test_ext_authz_filter_enabled_key(monkeypatch):
    factory, callout = authz(monkeypatch, filter_enabled={
        "runtime_key": "authz.on", "default_value": {"numerator": 100}})
    assert authz_status(factory) == 403 and callout.calls == 1
    runtime.install({"authz.on": 0})                # not checked: let through
    assert authz_status(factory) == 200 and callout.calls == 1
    assert factory.stats.disabled == 1


def test_ext_authz_deny_at_disable_key(monkeypatch):
    factory, callout = authz(
        monkeypatch, filter_enabled={"runtime_key": "authz.on", "default_value": {"numerator": 0}},
        deny_at_disable={"runtime_key": "authz.deny", "default_value": False})
    assert authz_status(factory) == 200
    runtime.install({"authz.deny": True})
    assert authz_status(factory) == 403 and callout.calls == 0


def test_ext_authz_without_keys_never_reads_the_runtime(monkeypatch):
    no_runtime(monkeypatch, ext_authz, route_policy)
    factory, callout = authz(monkeypatch, filter_enabled={"default_value": {"numerator": 0}},
                             deny_at_disable={"default_value": True})
    assert authz_status(factory) == 403 and callout.calls == 0


# fault: Envoy's default keys apply without any *_runtime field

def fault_factory(body, seed=1):
    slept = []
    factory = fault.FaultFactory(parsed(fault_config.parse, body),
                                 FilterContext(None, "http.in.", None), rng=random.Random(seed),
                                 sleep=slept.append, clock=lambda: 0.0)
    factory.name = "fault"
    return factory, slept


def fault_run(factory, headers=()):
    stream = FakeStream(FakeRequest(headers=list(headers)),
                        route=SimpleNamespace(cluster_name="backend"))
    stream.flag = lambda code: None
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    if filter_ is not None:
        filter_.on_stream_end(stream)
    return stream.local_reply[0] if stream.local_reply else 200


DELAY_AND_ABORT = {"delay": {"fixed_delay": "0.2s", "percentage": {"numerator": 0}},
                   "abort": {"http_status": 503, "percentage": {"numerator": 0}}}


def test_fault_default_keys_turn_faults_on():
    factory, slept = fault_factory(DELAY_AND_ABORT)
    assert fault_run(factory) == 200 and slept == []
    runtime.install({"fault.http.delay.fixed_delay_percent": 100,
                     "fault.http.abort.abort_percent": {"numerator": 100}})
    assert fault_run(factory) == 503 and slept == [0.2]
    runtime.install({"fault.http.delay.fixed_delay_percent": 100,
                     "fault.http.delay.fixed_duration_ms": 50,
                     "fault.http.abort.abort_percent": 100,
                     "fault.http.abort.http_status": 429})
    assert fault_run(factory) == 429 and slept[-1] == 0.05
    runtime.install({"fault.http.delay.fixed_delay_percent": 100,
                     "fault.http.delay.fixed_duration_ms": 0})   # 0 ms: no delay
    assert fault_run(factory) == 200 and len(slept) == 2
    assert factory.stats.delays_injected == 2 and factory.stats.aborts_injected == 2


def test_fault_runtime_lowers_a_configured_percentage():
    factory, slept = fault_factory({"abort": {"http_status": 500, "percentage": {"numerator": 100}}})
    assert fault_run(factory) == 500
    runtime.install({"fault.http.abort.abort_percent": 0})
    assert {fault_run(factory) for _ in range(20)} == {200}
    runtime.install({"fault.http.abort.abort_percent": 30})
    share = sum(fault_run(factory) == 500 for _ in range(2000)) / 2000
    assert 0.25 < share < 0.35


def test_fault_keys_named_in_the_config():
    factory, slept = fault_factory({**DELAY_AND_ABORT, "abort_percent_runtime": "my.abort",
                                    "abort_http_status_runtime": "my.status"})
    runtime.install({"fault.http.abort.abort_percent": 100})   # not the key this config reads
    assert fault_run(factory) == 200
    runtime.install({"my.abort": 100, "my.status": 418})
    assert fault_run(factory) == 418


def test_fault_downstream_cluster_keys():
    factory, slept = fault_factory(DELAY_AND_ABORT)
    cluster = [(b"x-envoy-downstream-service-cluster", b"web")]
    runtime.install({"fault.http.web.abort.abort_percent": 100,
                     "fault.http.web.abort.http_status": 502,
                     "fault.http.abort.http_status": 429,
                     "fault.http.web.delay.fixed_delay_percent": 100,
                     "fault.http.web.delay.fixed_duration_ms": 10})
    assert fault_run(factory) == 200 and slept == []              # another caller
    # the cluster's status falls back to the configured one, not to the filter's key (as Envoy)
    assert fault_run(factory, cluster) == 502 and slept == [0.01]
    runtime.install({"fault.http.web.abort.abort_percent": 100})
    assert fault_run(factory, cluster) == 503


def test_fault_max_active_faults_key():
    factory, slept = fault_factory({"abort": {"http_status": 503, "percentage": {"numerator": 100}}})
    runtime.install({"fault.http.max_active_faults": 0})
    assert fault_run(factory) == 200 and factory.stats.faults_overflow == 1
    runtime.install({})
    assert fault_run(factory) == 503


def test_fault_response_rate_limit_percent_key():
    factory, _ = fault_factory({"response_rate_limit": {"fixed_limit": {"limit_kbps": 1},
                                                        "percentage": {"numerator": 0}}})
    fault_run(factory)
    assert factory.stats.response_rl_injected == 0
    runtime.install({"fault.http.rate_limit.response_percent": 100})
    fault_run(factory)
    assert factory.stats.response_rl_injected == 1


def test_fault_header_delay_key_replaces_the_header_value():
    factory, slept = fault_factory({"delay": {"header_delay": {}, "percentage": {"numerator": 100}}})
    runtime.install({"fault.http.delay.fixed_duration_ms": 5})
    assert fault_run(factory) == 200 and slept == []              # no header: no delay
    fault_run(factory, [(b"x-envoy-fault-delay-request", b"300")])
    assert slept == [0.005]


# compressor: the direction's enabled RuntimeFeatureFlag, and the deprecated runtime_enabled

def compressor_factory(**fields):
    config = parsed(compressor_config.parse, {"compressor_library": {
        "name": "lib", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip"}},
        **fields})
    factory = compressor.factory(config, FilterContext(None, "http.in.", None))
    factory.name = "c"
    return factory


BODY = b"a compressible line of text\n" * 200


def encoding(factory):
    stream = FakeStream(request=FakeRequest(headers=[(b"accept-encoding", b"gzip")]))
    filter_ = factory.create(stream)
    filter_.decode_headers(stream, True)
    response, _ = stream.run_response(filter_, 200, [(b"content-type", b"text/plain")], [BODY])
    return dict(response.headers).get(b"content-encoding")


@pytest.mark.parametrize("fields", [
    {"response_direction_config": {"common_config": {"enabled": {
        "runtime_key": "gzip.on", "default_value": True}}}},
    {"runtime_enabled": {"runtime_key": "gzip.on", "default_value": True}},
], ids=["common_config.enabled", "runtime_enabled"])
def test_compressor_enabled_key(fields):
    factory = compressor_factory(**fields)
    assert encoding(factory) == b"gzip"
    runtime.install({"gzip.on": False})
    assert encoding(factory) is None
    runtime.install({"gzip.on": "maybe"})           # not a boolean: the default
    assert encoding(factory) == b"gzip"


def test_compressor_request_direction_key():
    factory = compressor_factory(request_direction_config={"common_config": {"enabled": {
        "runtime_key": "gzip.req", "default_value": False}}})

    def request_compressed():
        stream = FakeStream(request=FakeRequest(method=b"POST", headers=[
            (b"content-type", b"text/plain"), (b"content-length", b"5600")]))
        factory.create(stream).decode_headers(stream, False)
        return dict(stream.request.headers).get(b"content-encoding")

    assert request_compressed() is None
    runtime.install({"gzip.req": True})
    assert request_compressed() == b"gzip"


def test_compressor_without_a_key_never_reads_the_runtime(monkeypatch):
    no_runtime(monkeypatch, compressor)
    factory = compressor_factory(response_direction_config={"common_config": {"enabled": {
        "default_value": True}}})
    assert encoding(factory) == b"gzip"
