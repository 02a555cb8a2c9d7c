"""The fault HTTP filter, sans-IO: delays and aborts by percentage (seeded), header-controlled
faults, matching conditions, max_active_faults and the response rate limit's pacing."""
import random
from types import SimpleNamespace

import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import fault as config_module
from hotproxy.http.filters import fault
from hotproxy.http.filters.api import FilterContext
from filter_fakes import FakeRequest, FakeStream

ALL = {"numerator": 100}


class Stream(FakeStream):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.flags = []

    def flag(self, code):
        self.flags.append(code)


def parse(body):
    ctx = Context()
    parsed = config_module.parse(Node(body, "fault", ctx))
    assert not ctx.problems, ctx.problems
    return parsed


class Clock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def make(body, seed=1):
    clock = Clock()
    factory = fault.FaultFactory(parse(body), FilterContext(None, "http.in.", None),
                                 rng=random.Random(seed), sleep=clock.sleep, clock=clock)
    factory.name = "fault"
    return factory, clock


def run(factory, headers=(), route=None, per_route=None):
    stream = Stream(FakeRequest(headers=list(headers)),
                    route=route or SimpleNamespace(cluster_name="backend"), per_route=per_route)
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    return stream, filter_


def counters(factory):
    s = factory.stats
    return {name: getattr(s, name) for name in (*s.counters, *s.gauges)}


def test_fixed_delay_then_continue():
    factory, clock = make({"delay": {"fixed_delay": "0.25s", "percentage": ALL}})
    stream, filter_ = run(factory)
    assert clock.slept == [0.25] and stream.flags == ["DI"] and stream.local_reply is None
    assert counters(factory)["delays_injected"] == 1 and counters(factory)["active_faults"] == 1
    filter_.on_stream_end(stream)
    assert counters(factory)["active_faults"] == 0


def test_fixed_abort():
    factory, _ = make({"abort": {"http_status": 503, "percentage": ALL}})
    stream, _ = run(factory)
    assert stream.local_reply == (503, b"fault filter abort", [], "fault_filter_abort", "FI")
    assert counters(factory)["aborts_injected"] == 1


def test_abort_response_body():
    factory, _ = make({"abort": {"http_status": 500, "percentage": ALL, "response_body": "chaos"}})
    assert run(factory)[0].local_reply[:2] == (500, b"chaos")


def test_delay_then_abort():
    factory, clock = make({"delay": {"fixed_delay": "1s", "percentage": ALL},
                           "abort": {"http_status": 500, "percentage": ALL}})
    stream, _ = run(factory)
    assert clock.slept == [1.0] and stream.flags == ["DI"] and stream.local_reply[0] == 500
    assert counters(factory)["active_faults"] == 1        # one stream, one active fault


def test_unset_percentage_is_never():
    factory, clock = make({"delay": {"fixed_delay": "1s"}, "abort": {"http_status": 500}})
    stream, _ = run(factory)
    assert clock.slept == [] and stream.local_reply is None


def test_percentages_are_random_per_request():
    factory, _ = make({"abort": {"http_status": 503, "percentage": {"numerator": 30}}}, seed=3)
    aborted = sum(run(factory)[0].local_reply is not None for _ in range(1000))
    assert 250 < aborted < 350
    factory, _ = make({"abort": {"http_status": 503,
                                 "percentage": {"numerator": 1, "denominator": "MILLION"}}})
    assert not any(run(factory)[0].local_reply for _ in range(200))


def test_header_controlled_faults():
    factory, clock = make({"delay": {"header_delay": {}, "percentage": ALL},
                           "abort": {"header_abort": {}, "percentage": ALL}})
    stream, _ = run(factory)
    assert clock.slept == [] and stream.local_reply is None          # no headers, no fault
    stream, _ = run(factory, [(b"x-envoy-fault-delay-request", b"200"),
                              (b"x-envoy-fault-abort-request", b"429")])
    assert clock.slept == [0.2] and stream.local_reply[0] == 429
    for bad in (b"abc", b"100", b"600", b"-5"):
        stream, _ = run(factory, [(b"x-envoy-fault-abort-request", bad)])
        assert stream.local_reply is None, bad
    stream, _ = run(factory, [(b"x-envoy-fault-delay-request", b"0")])
    assert clock.slept == [0.2]


def test_header_percentage_only_lowers_the_configured_one():
    factory, _ = make({"abort": {"header_abort": {}, "percentage": ALL}})
    none = [run(factory, [(b"x-envoy-fault-abort-request", b"500"),
                          (b"x-envoy-fault-abort-request-percentage", b"0")])[0].local_reply
            for _ in range(50)]
    assert none == [None] * 50
    factory, _ = make({"abort": {"header_abort": {}, "percentage": {"numerator": 0}}})
    stream, _ = run(factory, [(b"x-envoy-fault-abort-request", b"500"),
                              (b"x-envoy-fault-abort-request-percentage", b"100")])
    assert stream.local_reply is None


def test_header_faults_need_their_header_config():
    factory, clock = make({"abort": {"http_status": 503, "percentage": {"numerator": 0}}})
    stream, _ = run(factory, [(b"x-envoy-fault-abort-request", b"500"),
                              (b"x-envoy-fault-delay-request", b"500")])
    assert stream.local_reply is None and clock.slept == []


def test_conditions_upstream_cluster_nodes_and_headers():
    body = {"abort": {"http_status": 503, "percentage": ALL}, "upstream_cluster": "backend",
            "downstream_nodes": ["edge"], "headers": [{"name": "x-chaos", "present_match": True}]}
    factory, _ = make(body)
    good = [(b"x-envoy-downstream-service-node", b"edge"), (b"x-chaos", b"1")]
    assert run(factory, good)[0].local_reply[0] == 503
    assert run(factory, good[:1])[0].local_reply is None
    assert run(factory, [(b"x-envoy-downstream-service-node", b"other"), good[1]])[0].local_reply is None
    assert run(factory, good, route=SimpleNamespace(cluster_name="canary"))[0].local_reply is None


def test_max_active_faults_overflow():
    factory, clock = make({"delay": {"fixed_delay": "1s", "percentage": ALL},
                           "max_active_faults": 1})
    first, first_filter = run(factory)
    second, _ = run(factory)
    assert clock.slept == [1.0] and second.flags == []
    assert counters(factory)["faults_overflow"] == 1
    first_filter.on_stream_end(first)
    run(factory)
    assert clock.slept == [1.0, 1.0]


def test_per_route_config_replaces_the_filters():
    factory, _ = make({"abort": {"http_status": 503, "percentage": ALL}})
    route_config = parse({"abort": {"http_status": 418, "percentage": ALL}})
    assert run(factory, per_route={"fault": route_config})[0].local_reply[0] == 418
    assert run(factory)[0].local_reply[0] == 503


def test_response_rate_limit_paces_the_body():
    factory, clock = make({"response_rate_limit": {"fixed_limit": {"limit_kbps": 16},
                                                   "percentage": ALL}})
    stream, filter_ = run(factory)
    assert counters(factory)["response_rl_injected"] == 1
    # 16 KiB/s: the first KiB (1/16 s worth) goes at once, then a KiB each 1/16 s
    stream.run_response(filter_, pieces=[b"x" * 1024, b"x" * 1024, b"x" * 2048])
    assert clock.slept == [0.0625, 0.125]


def test_response_rate_limit_from_header():
    factory, clock = make({"response_rate_limit": {"header_limit": {}, "percentage": ALL}})
    stream, filter_ = run(factory, [(b"x-envoy-fault-throughput-response", b"1")])
    stream.run_response(filter_, pieces=[b"x" * 64, b"x" * 1024])
    assert clock.slept == [pytest.approx(1.0, abs=1e-3)]
    stream, filter_ = run(factory, [(b"x-envoy-fault-throughput-response", b"0")])
    assert filter_.pacer is None


def test_a_config_without_faults_stays_out_of_the_stream():
    factory, _ = make({"headers": [{"name": "x-chaos", "present_match": True}]})
    assert factory.create(Stream(route=SimpleNamespace(cluster_name="backend"))) is None
