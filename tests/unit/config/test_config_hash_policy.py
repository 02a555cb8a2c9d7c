"""route.v3.RouteAction.hash_policy: what parses, and every rejection."""
import pytest

from hotproxy.config.route import HashPolicy, RegexRewrite

from config_helpers import ROUTE, Rejected, ids, parse_with

HP = f"{ROUTE}.route.hash_policy"


def policies(hash_policy):
    bootstrap = parse_with({HP: hash_policy})
    route_config = bootstrap.listeners[0].filter_chains[0].filters[0].route_config
    return route_config.virtual_hosts[0].routes[0].route.hash_policy


def test_every_kind_parses():
    assert policies([
        {"header": {"header_name": "X-User", "regex_rewrite": {
            "pattern": {"regex": "^/(\\w+)/.*"}, "substitution": "\\1"}}, "terminal": True},
        {"header": {"header_name": ":authority"}},
        {"cookie": {"name": "sticky", "ttl": "3600.5s", "path": "/app",
                    "attributes": [{"name": "SameSite", "value": "Strict"}, {"name": "Secure"}]}},
        {"cookie": {"name": "plain"}},
        {"connection_properties": {"source_ip": True}},
        {"connection_properties": {"source_ip": False}},     # Envoy adds no method for it
        {"query_parameter": {"name": "user"}},
    ]) == (
        HashPolicy("header", "x-user", True, regex_rewrite=RegexRewrite("^/(\\w+)/.*", "\\1")),
        HashPolicy("header", "host"),
        HashPolicy("cookie", "sticky", ttl=3600.0, path="/app",
                   attributes=(("SameSite", "Strict"), ("Secure", ""))),
        HashPolicy("cookie", "plain"),
        HashPolicy("source_ip"),
        HashPolicy("query_parameter", "user"),
    )


def test_a_route_without_one_has_none():
    assert policies([]) == ()


REJECTED = [
    Rejected({HP: [{"filter_state": {"key": ""}}]}, f"{HP}[0].filter_state.key", "must not be empty"),
    Rejected({HP: [{}]}, f"{HP}[0]", "exactly one of header, cookie"),
    Rejected({HP: [{"header": {"header_name": "a"}, "cookie": {"name": "b"}}]}, f"{HP}[0]",
             "only one of"),
    Rejected({HP: [{"header": {}}]}, f"{HP}[0].header.header_name", "required field is missing"),
    Rejected({HP: [{"cookie": {"name": ""}}]}, f"{HP}[0].cookie.name", "must not be empty"),
    Rejected({HP: [{"query_parameter": {}}]}, f"{HP}[0].query_parameter.name",
             "required field is missing"),
    Rejected({HP: [{"cookie": {"name": "a", "ttl": "soon"}}]}, f"{HP}[0].cookie.ttl", ""),
    Rejected({HP: [{"header": {"header_name": "a", "bogus": 1}}]}, f"{HP}[0].header.bogus",
             "unknown field"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
