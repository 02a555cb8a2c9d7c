"""The gRPC statistics filter, sans-IO: which requests it counts, under which names, and the
message counts of bodies split anywhere."""
import struct
from types import SimpleNamespace

import pytest

from hotproxy.config.http_filters.grpc_stats import GrpcStats
from hotproxy.http.filters import grpc_stats
from hotproxy.http.filters.api import Response
from hotproxy.http.grpc_frames import FrameCounter, service_and_method

from filter_fakes import FakeRequest, FakeStream


def frame(message):
    return struct.pack(">BI", 0, len(message)) + message


def run(config, target=b"/test.Echo/Say", content_type=b"application/grpc", requests=1,
        answer=(b"application/grpc", 2, [(b"grpc-status", b"0")]), factory=None):
    """One exchange; returns the factory's counters as a dict."""
    factory = factory or grpc_stats.factory(config, None)
    stream = FakeStream(FakeRequest(method=b"POST", target=target,
                                    headers=[(b"content-type", content_type)]))
    stream.cluster = SimpleNamespace(name="backend", stat_name="backend")
    filter_ = factory.create(stream)
    if filter_ is None:
        return None
    filter_.decode_headers(stream, False)
    body = b"".join(frame(b"m%d" % index) for index in range(requests))
    for index in range(0, len(body), 3):
        filter_.decode_data(stream, body[index:index + 3], index + 3 >= len(body))
    content_type, messages, trailers = answer
    response = Response(200, [(b"content-type", content_type)])
    filter_.encode_headers(stream, response, False)
    filter_.encode_data(stream, b"".join(frame(b"r") for _ in range(messages)), False)
    filter_.encode_trailers(stream, list(trailers))
    return {name: getattr(factory.stats, name) for name in factory.stats.counters}


def test_by_default_every_method_shares_one_set():
    assert run(GrpcStats(), requests=2) == {
        "backend.grpc.request_message_count": 2, "backend.grpc.response_message_count": 2,
        "backend.grpc.0": 1, "backend.grpc.success": 1, "backend.grpc.total": 1}


def test_stats_for_all_methods_and_replaced_dots():
    assert run(GrpcStats(all_methods=True), answer=(b"application/grpc", 1, [
        (b"grpc-status", b"13")])) == {
        "backend.grpc.test.Echo.Say.request_message_count": 1,
        "backend.grpc.test.Echo.Say.response_message_count": 1,
        "backend.grpc.test.Echo.Say.13": 1, "backend.grpc.test.Echo.Say.failure": 1,
        "backend.grpc.test.Echo.Say.total": 1}
    counted = run(GrpcStats(all_methods=True, replace_dots=True))
    assert "backend.grpc.test_Echo.Say.total" in counted


def test_the_allowlist_counts_its_methods_alone_and_keeps_dots():
    config = GrpcStats(allowlist=frozenset({("test.Echo", "Say")}), replace_dots=True)
    factory = grpc_stats.factory(config, None)
    run(config, factory=factory)
    counted = run(config, target=b"/test.Echo/Other", factory=factory)
    assert counted["backend.grpc.test.Echo.Say.total"] == 1
    assert counted["backend.grpc.total"] == 1


def test_grpc_web_and_other_requests_are_not_counted():
    for content_type in (b"application/grpc-web", b"text/plain"):
        assert run(GrpcStats(), content_type=content_type) is None
    assert run(GrpcStats(), content_type=b"application/grpc+proto") is not None


def test_a_non_grpc_answer_carries_no_messages_and_no_status():
    assert run(GrpcStats(), answer=(b"text/plain", 1, [])) == {
        "backend.grpc.request_message_count": 1}


def test_a_trailers_only_answer_is_charged_from_its_head():
    factory = grpc_stats.factory(GrpcStats(), None)
    stream = FakeStream(FakeRequest(target=b"/a/b", headers=[(b"content-type", b"application/grpc")]))
    stream.cluster = SimpleNamespace(name="c", stat_name="c")
    filter_ = factory.create(stream)
    filter_.encode_headers(stream, Response(200, [(b"grpc-status", b"5")]), True)
    assert factory.stats.counters == ("c.grpc.5", "c.grpc.failure", "c.grpc.total")


@pytest.mark.parametrize("target, expected", [
    (b"/a.B/C", ("a.B", "C")), (b"/a/b?x=1", ("a", "b")), (b"/a", None), (b"/a/b/c", None),
    (b"//b", None), (b"/a/", None), (b"a/b", None)])
def test_service_and_method(target, expected):
    assert service_and_method(target) == expected


def test_frames_are_counted_across_any_split():
    body = frame(b"") + frame(b"x" * 300) + frame(b"yz")
    for size in (1, 2, 5, 7, len(body)):
        counter = FrameCounter()
        seen = sum(counter.feed(body[index:index + size]) for index in range(0, len(body), size))
        assert seen == counter.count == 3
