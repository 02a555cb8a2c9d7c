"""The fault filter's HTTPFault config, as a filter and per route."""
import pytest

from hotproxy.config.core import HeaderMatcher
from hotproxy.config.http_filters.fault import FaultAbort, FaultDelay, FaultRateLimit, HttpFault
from config_helpers import HCM, ROUTE, Rejected, ids, parse_with

FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
NOT_SUPPORTED = "not supported by hotproxy yet"
FILTER = f"{HCM}.http_filters[0].typed_config"


def with_filter(**fields):
    return {f"{HCM}.http_filters": [
        {"name": "envoy.filters.http.fault", "typed_config": {"@type": FAULT, **fields}}, ROUTER]}


def filter_config(bootstrap):
    return bootstrap.listeners[0].filter_chains[0].filters[0].http_filters[0].config


def test_every_field():
    config = filter_config(parse_with(with_filter(
        delay={"fixed_delay": "0.5s", "percentage": {"numerator": 10}},
        abort={"header_abort": {}, "percentage": {"numerator": 5, "denominator": "MILLION"}},
        upstream_cluster="backend", headers=[{"name": "x-f", "exact_match": "1"}],
        downstream_nodes=["edge"], max_active_faults=3,
        response_rate_limit={"fixed_limit": {"limit_kbps": 64}, "percentage": {"numerator": 100}},
        disable_downstream_cluster_stats=True)))
    assert config == HttpFault(
        delay=FaultDelay(0.5, (10, 100)), abort=FaultAbort(None, (5, 1_000_000)),
        upstream_cluster="backend", headers=(HeaderMatcher(name="x-f", kind="exact", value="1"),),
        downstream_nodes=("edge",), max_active_faults=3,
        response_rate_limit=FaultRateLimit(64, (100, 100)), disable_downstream_cluster_stats=True)


def test_per_route_and_defaults():
    bootstrap = parse_with({f"{ROUTE}.typed_per_filter_config": {
        "envoy.filters.http.fault": {"@type": FAULT, "delay": {"header_delay": {}},
                                     "max_active_faults": {"value": 2}}}})
    route = bootstrap.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0].routes[0]
    (_, config), = route.typed_per_filter_config
    assert config == HttpFault(delay=FaultDelay(None, (0, 100)), max_active_faults=2)


def test_runtime_keys():
    """Each *_runtime field names the key the filter reads; unset or empty, Envoy's default."""
    config = filter_config(parse_with(with_filter(
        delay={"fixed_delay": "1s", "percentage": {"numerator": 1}},
        delay_percent_runtime="my.delay", abort_percent_runtime="",
        delay_duration_runtime="my.duration", abort_http_status_runtime="my.status",
        max_active_faults_runtime="my.max", response_rate_limit_percent_runtime="my.rl",
        abort_grpc_status_runtime="my.grpc")))
    assert (config.delay_percent_runtime, config.abort_percent_runtime,
            config.delay_duration_runtime, config.abort_http_status_runtime,
            config.max_active_faults_runtime, config.response_rate_limit_percent_runtime,
            config.abort_grpc_status_runtime) == (
        "my.delay", "fault.http.abort.abort_percent", "my.duration", "my.status", "my.max",
        "my.rl", "my.grpc")
    default = HttpFault()
    assert (default.delay_percent_runtime, default.delay_duration_runtime,
            default.abort_http_status_runtime, default.max_active_faults_runtime) == (
        "fault.http.delay.fixed_delay_percent", "fault.http.delay.fixed_duration_ms",
        "fault.http.abort.http_status", "fault.http.max_active_faults")


REJECTED = [
    Rejected(with_filter(delay={"percentage": {"numerator": 1}}), f"{FILTER}.delay",
             "exactly one of fixed_delay, header_delay is required"),
    Rejected(with_filter(abort={"http_status": 199}), f"{FILTER}.abort.http_status",
             "must be between 200 and 599"),
    Rejected(with_filter(abort={"http_status": 500, "header_abort": {}}), f"{FILTER}.abort",
             "only one of"),
    Rejected(with_filter(abort={"grpc_status": 14}), f"{FILTER}.abort.grpc_status", NOT_SUPPORTED),
    Rejected(with_filter(response_rate_limit={"fixed_limit": {"limit_kbps": 0}}),
             f"{FILTER}.response_rate_limit.fixed_limit.limit_kbps", "must be between 1"),
    Rejected(with_filter(filter_metadata={}), f"{FILTER}.filter_metadata", NOT_SUPPORTED),
    Rejected(with_filter(delay={"fixed_delay": "1s", "percentage": {"denominator": "THOUSAND"}}),
             f"{FILTER}.delay.percentage.denominator", "unknown enum value"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
