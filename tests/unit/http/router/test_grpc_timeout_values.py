"""grpc-timeout values, and the route timeout the deprecated max_grpc_timeout gives a gRPC
request (router/grpc_timeout.py), sans-IO; the values are the Envoy 1.40 binary's (probed)."""
import pytest

from hotproxy.config.route import Route, RouteAction, RouteMatch
from hotproxy.http.router.actions import CompiledRoute
from hotproxy.http.router.grpc_timeout import grpc_timed, grpc_timeout_ms, grpc_timeout_value


@pytest.mark.parametrize("value, ms", [(b"1H", 3600000), (b"2M", 120000), (b"3S", 3000),
                                       (b"500m", 500), (b"250000u", 250), (b"1u", 1), (b"7n", 1),
                                       (b"0m", 0), (b"12345678S", 12345678000)])
def test_grpc_timeout_units(value, ms):
    assert grpc_timeout_ms(value) == ms


@pytest.mark.parametrize("value", [None, b"", b"S", b"5", b"5s", b"123456789S", b"-1S", b"1.5S"])
def test_invalid_grpc_timeouts_are_none(value):
    assert grpc_timeout_ms(value) is None


@pytest.mark.parametrize("ms, value", [(0, b"0m"), (1900, b"1900m"), (99999999, b"99999999m"),
                                       (100000000, b"100000S"), (10 ** 12, b"16666666M"),
                                       (10 ** 15, b"99999999H")])
def test_grpc_timeout_values_fit_eight_digits(ms, value):
    assert grpc_timeout_value(ms) == value


def route(cap, offset=0.0):
    config = Route(match=RouteMatch("prefix", "/"), route=RouteAction(
        cluster="c", grpc_timeout_max=cap, grpc_timeout_offset=offset))
    return CompiledRoute(config, "v", "routes[0]", (), ())


@pytest.mark.parametrize("cap, offset, sent, timeout, told", [
    (1.0, 0.1, b"10S", 1.0, b"1000m"),      # the offset first, then the cap
    (1.0, 0.1, b"500m", 0.4, b"400m"),
    (1.0, 0.0, None, 1.0, b"1000m"),        # no header: the cap, told all the same
    (0.0, 0.0, b"3S", 3.0, b"3000m"),       # no cap
    (0.0, 0.0, None, 0.0, None),            # neither: unlimited, nothing told
    (2.0, 5.0, b"1S", 1.0, b"1000m"),       # an offset not below the timeout is not taken
])
def test_the_timeout_and_what_the_upstream_is_told(cap, offset, sent, timeout, told):
    headers = [(b"content-type", b"application/grpc")] + ([(b"grpc-timeout", sent)] if sent else [])
    timed = grpc_timed(route(cap, offset), headers)
    assert timed.timeout == pytest.approx(timeout)
    upstream = timed.mutate_request(headers, None, None)
    assert dict(upstream).get(b"grpc-timeout") == told
