"""route.v3.RetryPolicy on routes and virtual hosts: what parses, and every rejection."""
import pytest

from hotproxy.config.core import HeaderMatcher
from hotproxy.config.fields import NOT_SUPPORTED
from hotproxy.config.parse_retry import PREVIOUS_HOSTS, PREVIOUS_HOSTS_TYPE
from hotproxy.config.route import RateLimitedRetryBackOff, ResetHeader, RetryBackOff, RetryPolicy

from config_helpers import ROUTE, VHOST, Rejected, ids, parse_with

PREVIOUS = {"name": PREVIOUS_HOSTS, "typed_config": {"@type": PREVIOUS_HOSTS_TYPE}}


def route_config(bootstrap):
    listener = bootstrap.listeners[0]
    return listener.filter_chains[0].filters[0].route_config


def test_every_field_parses():
    bootstrap = parse_with({f"{ROUTE}.route.retry_policy": {
        "retry_on": "5xx, connect-failure,retriable-status-codes,bogus",
        "num_retries": 3, "per_try_timeout": "0.25s", "per_try_idle_timeout": "1s",
        "retry_back_off": {"base_interval": "0.01s", "max_interval": "0.5s"},
        "rate_limited_retry_back_off": {"reset_headers": [
            {"name": "Retry-After"}, {"name": "X-RateLimit-Reset", "format": "UNIX_TIMESTAMP"}],
            "max_interval": "10s"},
        "retry_host_predicate": [PREVIOUS], "host_selection_retry_max_attempts": 4,
        "retriable_status_codes": [409, 418],
        "retriable_headers": [{"name": "X-Retry", "exact_match": "yes"}],
        "retriable_request_headers": [{"name": ":method", "exact_match": "GET"}]}})
    policy = route_config(bootstrap).virtual_hosts[0].routes[0].route.retry_policy
    assert policy == RetryPolicy(
        retry_on=("5xx", "connect-failure", "retriable-status-codes"),   # unknown names dropped
        num_retries=3, per_try_timeout=0.25, per_try_idle_timeout=1.0,
        retry_back_off=RetryBackOff(0.01, 0.5),
        rate_limited_retry_back_off=RateLimitedRetryBackOff(
            (ResetHeader("retry-after"), ResetHeader("x-ratelimit-reset", "UNIX_TIMESTAMP")), 10.0),
        previous_hosts=True, host_selection_retry_max_attempts=4,
        retriable_status_codes=(409, 418),
        retriable_headers=(HeaderMatcher(name="x-retry", kind="exact", value="yes"),),
        retriable_request_headers=(HeaderMatcher(name=":method", kind="exact", value="GET"),))


def test_defaults_and_virtual_host_fields():
    bootstrap = parse_with({
        f"{VHOST}.retry_policy": {"retry_on": "reset"},
        f"{VHOST}.include_request_attempt_count": True,
        f"{VHOST}.include_attempt_count_in_response": True,
        f"{VHOST}.per_request_buffer_limit_bytes": 1024,
        f"{ROUTE}.per_request_buffer_limit_bytes": 10})
    vhost = route_config(bootstrap).virtual_hosts[0]
    assert vhost.retry_policy == RetryPolicy(retry_on=("reset",))
    assert vhost.retry_policy.num_retries == 1          # Envoy's default
    assert vhost.include_request_attempt_count and vhost.include_attempt_count_in_response
    assert vhost.per_request_buffer_limit_bytes == 1024
    assert vhost.routes[0].per_request_buffer_limit_bytes == 10
    assert vhost.routes[0].route.retry_policy is None


RP = f"{ROUTE}.route.retry_policy"
REJECTED = [
    Rejected({RP: {"retry_back_off": {"base_interval": "1s", "max_interval": "0.5s"}}},
             f"{RP}.retry_back_off.max_interval",
             "max_interval must be greater than or equal to the base_interval"),
    Rejected({RP: {"retry_back_off": {"max_interval": "1s"}}},
             f"{RP}.retry_back_off.base_interval", "required field is missing"),
    Rejected({RP: {"retry_back_off": {"base_interval": "0s"}}},
             f"{RP}.retry_back_off.base_interval", "must be greater than 0s"),
    Rejected({RP: {"rate_limited_retry_back_off": {"reset_headers": []}}},
             f"{RP}.rate_limited_retry_back_off.reset_headers",
             "at least one reset header is required"),
    Rejected({RP: {"rate_limited_retry_back_off": {"reset_headers": [
        {"name": "retry-after", "format": "HTTP_DATE"}]}}},
             f"{RP}.rate_limited_retry_back_off.reset_headers[0].format", "unknown enum value"),
    Rejected({RP: {"retry_host_predicate": [{"name": PREVIOUS_HOSTS}]}},
             f"{RP}.retry_host_predicate[0].typed_config", "required field is missing"),
    Rejected({RP: {"retry_host_predicate": [{"name": "envoy.retry_host_predicates.omit_canary_hosts",
                                             "typed_config": {"@type": "x"}}]}},
             f"{RP}.retry_host_predicate[0].name", NOT_SUPPORTED),
    Rejected({RP: {"retry_host_predicate": [{"name": PREVIOUS_HOSTS,
                                             "typed_config": {"@type": "type.googleapis.com/x"}}]}},
             f"{RP}.retry_host_predicate[0].typed_config", "expected an empty"),
    Rejected({RP: {"retry_priority": {}}}, f"{RP}.retry_priority", NOT_SUPPORTED),
    Rejected({RP: {"retry_options_predicates": []}}, f"{RP}.retry_options_predicates",
             NOT_SUPPORTED),
    Rejected({RP: {"num_retries": -1}}, f"{RP}.num_retries", ""),
    Rejected({RP: {"nonsense": 1}}, f"{RP}.nonsense", "unknown field 'nonsense'"),
    # Still refused: the typed retry policy extension.
    Rejected({f"{ROUTE}.route.retry_policy_typed_config": {}},
             f"{ROUTE}.route.retry_policy_typed_config", NOT_SUPPORTED),
    Rejected({f"{VHOST}.include_is_timeout_retry_header": True},
             f"{VHOST}.include_is_timeout_retry_header", NOT_SUPPORTED),
    Rejected({f"{VHOST}.request_body_buffer_limit": {}}, f"{VHOST}.request_body_buffer_limit",
             NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
