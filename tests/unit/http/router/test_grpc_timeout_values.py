"""grpc-timeout values and the timeout a gRPC request gets on a route that caps it
(router/grpc_timeout.py), sans-IO."""
import pytest

from hotproxy.config.route import Route, RouteAction, RouteMatch
from hotproxy.http.router.actions import CompiledRoute
from hotproxy.http.router.grpc_timeout import grpc_timed, parse_grpc_timeout


@pytest.mark.parametrize("value, seconds", [(b"1H", 3600.0), (b"2M", 120.0), (b"3S", 3.0),
                                            (b"500m", 0.5), (b"250000u", 0.25), (b"7n", 7e-9),
                                            (b"12345678S", 12345678.0)])
def test_grpc_timeout_units(value, seconds):
    assert parse_grpc_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, b"", b"S", b"5", b"5s", b"123456789S", b"-1S", b"1.5S"])
def test_invalid_grpc_timeouts_are_none(value):
    assert parse_grpc_timeout(value) is None


def route(cap, offset=0.0, announced=False):
    config = Route(match=RouteMatch("prefix", "/"), route=RouteAction(
        cluster="c", grpc_timeout_max=cap, grpc_timeout_offset=offset, grpc_timeout_announced=announced))
    return CompiledRoute(config, "v", "routes[0]", (), ())


@pytest.mark.parametrize("cap, offset, sent, timeout, told", [
    (2.0, 0.1, b"5S", 1.9, b"1900m"),       # capped, then the offset
    (2.0, 0.1, b"500m", 0.4, b"400m"),
    (2.0, 0.0, None, 2.0, None),            # no header: the cap, and nothing told
    (0.0, 0.0, b"3S", 3.0, b"3000m"),       # no cap
    (0.0, 0.0, None, 0.0, None),            # neither: unlimited
    (2.0, 5.0, b"1S", 1.0, b"1000m"),       # an offset not below the timeout is not taken
])
def test_the_timeout_and_what_the_upstream_is_told(cap, offset, sent, timeout, told):
    headers = [(b"content-type", b"application/grpc")] + ([(b"grpc-timeout", sent)] if sent else [])
    timed = grpc_timed(route(cap, offset), headers)
    assert timed.timeout == pytest.approx(timeout)
    upstream = timed.mutate_request(
        headers + [(b"x-envoy-expected-rq-timeout-ms", b"15000")], None, None)
    assert dict(upstream).get(b"grpc-timeout") == told
    assert b"x-envoy-expected-rq-timeout-ms" not in dict(upstream)


def test_the_deprecated_field_still_announces_the_timeout():
    timed = grpc_timed(route(1.0, announced=True), [(b"grpc-timeout", b"10S")])
    upstream = dict(timed.mutate_request([(b"x-envoy-expected-rq-timeout-ms", b"1000")], None, None))
    assert upstream[b"x-envoy-expected-rq-timeout-ms"] == b"1000"
