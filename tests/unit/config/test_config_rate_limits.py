"""Route and virtual host ``rate_limits`` (envoy.config.route.v3.RateLimit), which the
local_ratelimit filter turns into descriptors."""
import pytest

from hotproxy.config.core import HeaderMatcher
from hotproxy.config.rate_limit import RateLimit, RateLimitAction
from config_helpers import ROUTE, VHOST, Rejected, ids, parse_with

NOT_SUPPORTED = "not supported by hotproxy yet"


def route_action(bootstrap):
    return bootstrap.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0].routes[0].route


def vhost(bootstrap):
    return bootstrap.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0]


def test_every_action_parses():
    limits = [{"stage": 2, "disable_key": "off", "actions": [
        {"request_headers": {"header_name": "X-User", "descriptor_key": "user",
                             "skip_if_absent": True}},
        {"remote_address": {}},
        {"generic_key": {"descriptor_value": "v"}},
        {"generic_key": {"descriptor_value": "v", "descriptor_key": "k"}},
        {"header_value_match": {"descriptor_value": "get", "expect_match": False,
                                "headers": [{"name": ":method", "exact_match": "GET"}]}},
        {"source_cluster": {}}, {"destination_cluster": {}},
        {"masked_remote_address": {"v4_prefix_mask_len": 16}}]}]
    bootstrap = parse_with({f"{ROUTE}.route.rate_limits": limits,
                            f"{ROUTE}.route.include_vh_rate_limits": True,
                            f"{VHOST}.rate_limits": [{"actions": [{"remote_address": {}}]}]})
    action = route_action(bootstrap)
    assert action.include_vh_rate_limits
    assert action.rate_limits == (RateLimit(stage=2, disable_key="off", actions=(
        RateLimitAction("request_headers", key="user", header="x-user", skip_if_absent=True),
        RateLimitAction("remote_address", key="remote_address"),
        RateLimitAction("generic_key", key="generic_key", value="v"),
        RateLimitAction("generic_key", key="k", value="v"),
        RateLimitAction("header_value_match", key="header_match", value="get", expect_match=False,
                        headers=(HeaderMatcher(name=":method", kind="exact", value="GET"),)),
        RateLimitAction("source_cluster", key="source_cluster"),
        RateLimitAction("destination_cluster", key="destination_cluster"),
        RateLimitAction("masked_remote_address", key="masked_remote_address",
                        v4_prefix_mask_len=16))),)
    assert vhost(bootstrap).rate_limits == (
        RateLimit(actions=(RateLimitAction("remote_address", key="remote_address"),)),)


def test_no_rate_limits_by_default():
    bootstrap = parse_with({})
    assert route_action(bootstrap).rate_limits == () and vhost(bootstrap).rate_limits == ()


LIMITS = f"{ROUTE}.route.rate_limits"
REJECTED = [
    Rejected({LIMITS: [{"actions": []}]}, f"{LIMITS}[0].actions", "at least one action"),
    Rejected({LIMITS: [{"actions": [{}]}]}, f"{LIMITS}[0].actions[0]", "exactly one of"),
    Rejected({LIMITS: [{"stage": 11, "actions": [{"remote_address": {}}]}]}, f"{LIMITS}[0].stage",
             "must be between 0 and 10"),
    Rejected({LIMITS: [{"actions": [{"request_headers": {"header_name": "x"}}]}]},
             f"{LIMITS}[0].actions[0].request_headers.descriptor_key", "required field"),
    Rejected({LIMITS: [{"actions": [{"generic_key": {}}]}]},
             f"{LIMITS}[0].actions[0].generic_key.descriptor_value", "required field"),
    Rejected({LIMITS: [{"actions": [{"header_value_match": {"descriptor_value": "v"}}]}]},
             f"{LIMITS}[0].actions[0].header_value_match.headers", "at least one header matcher"),
    Rejected({LIMITS: [{"actions": [{"metadata": {}}]}]}, f"{LIMITS}[0].actions[0].metadata",
             NOT_SUPPORTED),
    Rejected({LIMITS: [{"limit": {}, "actions": [{"remote_address": {}}]}]}, f"{LIMITS}[0].limit",
             NOT_SUPPORTED),
    Rejected({LIMITS: [{"actions": [{"remote_address": {"x": 1}}]}]},
             f"{LIMITS}[0].actions[0].remote_address.x", "unknown field"),
    Rejected({f"{VHOST}.rate_limits": [{"actions": [{"query_parameters": {}}]}]},
             f"{VHOST}.rate_limits[0].actions[0].query_parameters", NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
