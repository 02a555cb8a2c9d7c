"""route.v3.HedgePolicy on routes and virtual hosts: what parses, which one a route gets, and
every rejection (Envoy 1.40's validation: initial_requests at least 1)."""
import pytest

from hotproxy.config.route import HedgePolicy

from config_helpers import ROUTE, VHOST, Rejected, ids, parse_with

ON = {"hedge_on_per_try_timeout": True}


def routes_of(bootstrap):
    route_config = bootstrap.listeners[0].filter_chains[0].filters[0].route_config
    return route_config.virtual_hosts[0], route_config.virtual_hosts[0].routes


def test_every_field_parses():
    _, routes = routes_of(parse_with({f"{ROUTE}.route.hedge_policy": {
        "hedge_on_per_try_timeout": True, "initial_requests": 1,
        "additional_request_chance": {"numerator": 5, "denominator": "TEN_THOUSAND"}}}))
    assert routes[0].route.hedge_policy == HedgePolicy(hedge_on_per_try_timeout=True)


def test_initial_requests_above_one_is_accepted_and_not_acted_on_as_by_envoy():
    _, routes = routes_of(parse_with({f"{ROUTE}.route.hedge_policy": {"initial_requests": 3}}))
    assert routes[0].route.hedge_policy == HedgePolicy(initial_requests=3)


def test_a_route_without_one_gets_its_virtual_hosts():
    vhost, routes = routes_of(parse_with({f"{VHOST}.hedge_policy": ON}))
    assert vhost.hedge_policy == HedgePolicy(True)
    assert routes[0].route.hedge_policy == HedgePolicy(True)


def test_a_routes_own_replaces_the_virtual_hosts_whole():
    _, routes = routes_of(parse_with({f"{VHOST}.hedge_policy": ON,
                                      f"{ROUTE}.route.hedge_policy": {"initial_requests": 1}}))
    assert routes[0].route.hedge_policy == HedgePolicy(False)


def test_none_by_default():
    vhost, routes = routes_of(parse_with({}))
    assert vhost.hedge_policy is None and routes[0].route.hedge_policy is None


HP = f"{ROUTE}.route.hedge_policy"
REJECTED = [
    Rejected({HP: {"initial_requests": 0}}, f"{HP}.initial_requests", "between 1 and"),
    Rejected({HP: {"hedge_on_per_try_timeout": "maybe"}}, f"{HP}.hedge_on_per_try_timeout",
             "expected a boolean"),
    Rejected({HP: {"additional_request_chance": {"denominator": "HALF"}}},
             f"{HP}.additional_request_chance.denominator", "unknown enum value"),
    Rejected({HP: {"nonsense": 1}}, f"{HP}.nonsense", "unknown field 'nonsense'"),
    Rejected({f"{VHOST}.hedge_policy": {"initial_requests": 0}},
             f"{VHOST}.hedge_policy.initial_requests", "between 1 and"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
