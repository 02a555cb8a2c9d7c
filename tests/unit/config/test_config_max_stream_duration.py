"""common_http_protocol_options.max_stream_duration on the connection manager, and a route's
max_stream_duration, as the config parser reads them (http/stream_duration.py applies them)."""
import pytest

from hotproxy.config.max_stream_duration import MaxStreamDuration

from config_helpers import Rejected, ids, parse_with

HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
ROUTE = f"{HCM}.route_config.virtual_hosts[0].routes[0].route"


def hcm_of(config):
    return config.listeners[0].filter_chains[0].filters[-1]


def action_of(config):
    return hcm_of(config).route_config.virtual_hosts[0].routes[0].route


def test_the_connection_managers_limit():
    config = parse_with({f"{HCM}.common_http_protocol_options": {"max_stream_duration": "1.5s"}})
    assert hcm_of(config).max_stream_duration == 1.5
    assert hcm_of(parse_with({})).max_stream_duration == 0.0


def test_a_route_without_max_stream_duration_keeps_its_timeouts():
    action = action_of(parse_with({f"{ROUTE}.timeout": "3s", f"{ROUTE}.max_grpc_timeout": "2s",
                                   f"{ROUTE}.grpc_timeout_offset": "0.5s"}))
    assert action.max_stream_duration is None
    assert (action.timeout, action.grpc_timeout_max, action.grpc_timeout_offset) == (3.0, 2.0, 0.5)


@pytest.mark.parametrize("written, parsed", [
    ({}, MaxStreamDuration()),
    ({"max_stream_duration": "0s"}, MaxStreamDuration(limit=0.0)),
    ({"max_stream_duration": "2.5s"}, MaxStreamDuration(limit=2.5)),
    ({"grpc_timeout_header_max": "0s", "grpc_timeout_header_offset": "0.1s"},
     MaxStreamDuration(grpc_header_max=0.0, grpc_header_offset=0.1)),
])
def test_a_routes_max_stream_duration_voids_its_timeout_and_max_grpc_timeout(written, parsed):
    """Envoy 1.40 (RouteEntry::usingNewTimeouts, probed): with the message present, even
    empty, the route timeout and the deprecated max_grpc_timeout no longer apply."""
    action = action_of(parse_with({f"{ROUTE}.timeout": "0.5s", f"{ROUTE}.max_grpc_timeout": "1s",
                                   f"{ROUTE}.max_stream_duration": written}))
    assert action.max_stream_duration == parsed
    assert action.timeout == 0.0
    assert action.grpc_timeout_max is None


REJECTED = [
    Rejected({f"{HCM}.common_http_protocol_options": {"max_stream_duration": "-1s"}},
             f"{HCM}.common_http_protocol_options.max_stream_duration", "negative duration"),
    Rejected({f"{HCM}.common_http_protocol_options": {"max_stream_duration": "soon"}},
             f"{HCM}.common_http_protocol_options.max_stream_duration", "invalid duration"),
    Rejected({f"{ROUTE}.max_stream_duration": {"max_stream_duration": "1 s"}},
             f"{ROUTE}.max_stream_duration.max_stream_duration", "invalid duration"),
    Rejected({f"{ROUTE}.max_stream_duration": {"grpc_timeout_header_offset": "-2s"}},
             f"{ROUTE}.max_stream_duration.grpc_timeout_header_offset", "negative duration"),
    Rejected({f"{ROUTE}.max_stream_duration": {"max_duration": "1s"}},
             f"{ROUTE}.max_stream_duration.max_duration", "unknown field"),
    Rejected({f"{ROUTE}.max_stream_duration": "1s"}, f"{ROUTE}.max_stream_duration", "expected"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
