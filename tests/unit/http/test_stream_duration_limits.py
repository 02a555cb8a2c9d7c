"""The limit a stream gets from its connection manager, its route and its grpc-timeout, and the
grpc-timeout the upstream is told (http/stream_duration.py), sans-IO; the cases are the Envoy
1.40 binary's (ActiveStream::refreshDurationTimeout, probed)."""
import pytest

from hotproxy.config.max_stream_duration import MaxStreamDuration
from hotproxy.config.route import Route, RouteAction, RouteMatch
from hotproxy.http.router.actions import CompiledRoute
from hotproxy.http.stream_duration import limit_ms, tell_grpc_upstream

HCM_MS = 1000


def route(limits=None):
    config = Route(match=RouteMatch("prefix", "/"),
                   route=RouteAction(cluster="c", max_stream_duration=limits))
    return CompiledRoute(config, "v", "routes[0]", (), ())


def grpc(timeout=None):
    sent = [(b"grpc-timeout", timeout)] if timeout else []
    return [(b"content-type", b"application/grpc"), *sent]


@pytest.mark.parametrize("limits, headers, hcm_ms, expected", [
    (None, [], HCM_MS, 1000),                                       # the connection manager's
    (None, [], 0, None),                                            # none at all
    (MaxStreamDuration(), [], HCM_MS, 1000),                        # an empty message: still its
    (MaxStreamDuration(limit=2.5), [], HCM_MS, 2500),               # the route's replaces it
    (MaxStreamDuration(limit=0.0), [], HCM_MS, None),               # 0: none for the route
    (MaxStreamDuration(limit=2.5), grpc(b"3S"), HCM_MS, 2500),      # no header max: no header
    (MaxStreamDuration(grpc_header_max=0.0), grpc(b"3S"), HCM_MS, 3000),
    (MaxStreamDuration(grpc_header_max=0.0), grpc(), HCM_MS, 1000),  # no grpc-timeout sent
    (MaxStreamDuration(limit=5.0, grpc_header_max=3.0), grpc(b"10S"), HCM_MS, 3000),  # capped
    (MaxStreamDuration(limit=5.0, grpc_header_max=3.0), grpc(), HCM_MS, 5000),
    (MaxStreamDuration(grpc_header_max=2.0, grpc_header_offset=0.1), grpc(b"5S"), 0, 1900),
    (MaxStreamDuration(grpc_header_max=0.0, grpc_header_offset=1.0), grpc(b"500m"), 0, 0),
    (MaxStreamDuration(grpc_header_max=0.0), grpc(b"0m"), HCM_MS, 0),  # already passed
    (MaxStreamDuration(grpc_header_max=0.0), grpc(b"soon"), 0, None),  # not a grpc-timeout
])
def test_the_streams_limit(limits, headers, hcm_ms, expected):
    assert limit_ms(route(limits), headers, hcm_ms) == expected


def test_no_route_has_the_connection_managers_limit():
    assert limit_ms(None, [], HCM_MS) == 1000


@pytest.mark.parametrize("sent, ms, hcm_ms, told", [
    (b"10S", 3000, HCM_MS, b"3000m"),   # rewritten to the limit
    (None, 1000, HCM_MS, b"1000m"),     # added
    (b"10S", None, HCM_MS, None),       # the route lifted a running limit: removed
    (b"10S", None, 0, b"10S"),          # no limit ran: left as sent
])
def test_what_a_grpc_upstream_is_told(sent, ms, hcm_ms, told):
    headers = grpc(sent) + [(b"x-other", b"1")]
    tell_grpc_upstream(headers, ms, hcm_ms)
    assert dict(headers).get(b"grpc-timeout") == told
    assert dict(headers)[b"x-other"] == b"1"
