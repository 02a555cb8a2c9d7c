"""grpc_stats' emit_filter_state: the message counts each way in the filter state, printed by
%FILTER_STATE(envoy.filters.http.grpc_stats)% as Envoy 1.40 prints its GrpcStatsObject."""
from types import SimpleNamespace

from hotproxy.accesslog.state_commands import filter_state_readers
from hotproxy.accesslog.syntax import tokenize
from hotproxy.config.http_filters.grpc_stats import GrpcStats
from hotproxy.http.filters import grpc_stats
from hotproxy.http.filters.api import Response

from filter_fakes import FakeRequest, FakeStream
from test_grpc_stats_filter import frame


def exchange(config, requests=3, responses=2):
    factory = grpc_stats.factory(config, None)
    stream = FakeStream(FakeRequest(method=b"POST", target=b"/pkg.Svc/M",
                                    headers=[(b"content-type", b"application/grpc")]))
    stream.cluster = SimpleNamespace(name="c", stat_name="c")
    filter_ = factory.create(stream)
    filter_.decode_headers(stream, False)
    filter_.decode_data(stream, b"".join(frame(b"q") for _ in range(requests)), True)
    filter_.encode_headers(stream, Response(200, [(b"content-type", b"application/grpc")]), False)
    filter_.encode_data(stream, b"".join(frame(b"r") for _ in range(responses)), False)
    filter_.encode_trailers(stream, [(b"grpc-status", b"0")])
    return stream.info


def printed(info, parameters):
    command, = [token for token in tokenize(f"%FILTER_STATE({parameters})%")
                if not isinstance(token, str)]
    text, _json = filter_state_readers(command)
    return text(info)


def test_the_counts_are_left_for_the_access_log():
    info = exchange(GrpcStats(emit_filter_state=True))
    assert printed(info, "envoy.filters.http.grpc_stats") == \
        b'{"requestMessageCount":"3","responseMessageCount":"2"}'
    assert printed(info, "envoy.filters.http.grpc_stats:PLAIN") == b"3,2"
    assert printed(info, "envoy.filters.http.grpc_stats:FIELD:request_message_count") is None


def test_zero_counts_are_left_out_of_the_json():
    info = exchange(GrpcStats(emit_filter_state=True), requests=0, responses=1)
    assert printed(info, "envoy.filters.http.grpc_stats") == b'{"responseMessageCount":"1"}'


def test_without_it_nothing_is_left():
    assert exchange(GrpcStats()).filter_state is None
