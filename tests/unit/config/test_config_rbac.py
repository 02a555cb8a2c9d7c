"""The RBAC filters' configs: HTTP (typed_config and RBACPerRoute) and network, with the
refusals Envoy 1.40 makes and those hotproxy makes."""
import pytest

from config_helpers import HCM, ROUTE, edited, parse_with, problems_of
from hotproxy.config.rbac import NetworkRbac, RbacFilter, RbacPerRoute, Rule

RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
NETWORK_TYPE = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
POLICY = {"permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
          "principals": [{"remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}]}
TCP_FILTERS = "static_resources.listeners[1].filter_chains[0].filters"


def http_rbac(config):
    return {f"{HCM}.http_filters": [
        {"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC_TYPE, **config}}, ROUTER]}


def network_rbac(config):
    tcp_proxy = edited({})["static_resources"]["listeners"][1]["filter_chains"][0]["filters"][0]
    return {TCP_FILTERS: [{"name": "envoy.filters.network.rbac",
                           "typed_config": {"@type": NETWORK_TYPE, **config}}, tcp_proxy]}


def test_http_rbac_parses():
    bootstrap = parse_with(http_rbac({
        "rules": {"action": "DENY", "policies": {"b": POLICY, "a": POLICY}},
        "rules_stat_prefix": "r_", "shadow_rules": {"policies": {"s": POLICY}}}))
    config = bootstrap.listeners[0].filter_chains[0].filters[0].http_filters[0].config
    assert isinstance(config, RbacFilter) and config.runtime == "rbac"
    assert config.rules.action == "DENY"
    assert [p.name for p in config.rules.policies] == ["a", "b"]      # Envoy's order
    assert config.shadow_rules.action == "ALLOW"
    assert config.rules_stat_prefix == "r_"
    assert config.rules.policies[0].permissions == (Rule("url_path", config.rules.policies[0].permissions[0].value),)
    hash(config)


def test_per_route_rbac_parses():
    bootstrap = parse_with({
        **http_rbac({"rules": {"policies": {"a": POLICY}}}),
        f"{ROUTE}.typed_per_filter_config": {
            "envoy.filters.http.rbac": {"@type": PER_ROUTE_TYPE, "rbac": {"rules": {"action": "LOG"}}}}})
    route = bootstrap.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0].routes[0]
    per_route = dict(route.typed_per_filter_config)["envoy.filters.http.rbac"]
    config = getattr(per_route, "config", per_route)
    assert isinstance(config, RbacPerRoute)
    assert config.rbac.rules.action == "LOG" and config.rbac.rules.policies == ()


def test_network_rbac_parses():
    bootstrap = parse_with(network_rbac({
        "stat_prefix": "tcp_rbac", "rules": {"policies": {"a": {
            "permissions": [{"destination_port": 10001}],
            "principals": [{"authenticated": {"principal_name": {"exact": "spiffe://a"}}}]}}},
        "enforcement_type": "ONE_TIME_ON_FIRST_BYTE", "delay_deny": "0.5s"}))
    filters = bootstrap.listeners[1].filter_chains[0].filters
    assert isinstance(filters[0], NetworkRbac) and filters[0].runtime == "rbac"
    assert filters[0].delay_deny == 0.5 and filters[0].stat_prefix == "tcp_rbac"


HTTP_AT = f"{HCM}.http_filters[0].typed_config"
REJECTED = [
    (http_rbac({"matcher": {}}), f"{HTTP_AT}.matcher", "xDS matcher API"),
    (http_rbac({"shadow_matcher": {}}), f"{HTTP_AT}.shadow_matcher", "xDS matcher API"),
    (http_rbac({"rules": {"action": "AUDIT"}}), f"{HTTP_AT}.rules.action", "unknown enum value"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [], "principals": [{"any": True}]}}}}),
     f"{HTTP_AT}.rules.policies.a.permissions", "at least one"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [{"any": True}]}}}}),
     f"{HTTP_AT}.rules.policies.a.principals", "at least one"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [{}], "principals": [{"any": True}]}}}}),
     f"{HTTP_AT}.rules.policies.a.permissions[0]", "exactly one of"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [{"any": False}], "principals": [{"any": True}]}}}}),
     f"{HTTP_AT}.rules.policies.a.permissions[0].any", "must be true"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [{"destination_port_range": {"start": 9, "end": 9}}],
                                             "principals": [{"any": True}]}}}}),
     f"{HTTP_AT}.rules.policies.a.permissions[0].destination_port_range", "cannot be greater or equal"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [{"any": True}],
                                             "principals": [{"remote_ip": {"address_prefix": "10.0.0"}}]}}}}),
     f"{HTTP_AT}.rules.policies.a.principals[0].remote_ip.address_prefix", "malformed IP"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [{"any": True}],
                                             "principals": [{"filter_state": {}}]}}}}),
     f"{HTTP_AT}.rules.policies.a.principals[0].filter_state", "not supported"),
    (http_rbac({"rules": {"policies": {"a": {"permissions": [{"any": True}], "principals": [{"any": True}],
                                             "condition": {}}}}}),
     f"{HTTP_AT}.rules.policies.a.condition", "not supported"),
    (network_rbac({"rules": {}}), f"{TCP_FILTERS}[0].typed_config.stat_prefix", "required"),
    (network_rbac({"stat_prefix": "n", "enforcement_type": "CONTINUOUS"}),
     f"{TCP_FILTERS}[0].typed_config.enforcement_type", "not supported"),
    (network_rbac({"stat_prefix": "n", "rules": {"policies": {"a": {
        "permissions": [{"not_rule": {"header": {"name": "x", "present_match": True}}}],
        "principals": [{"any": True}]}}}}),
     f"{TCP_FILTERS}[0].typed_config.rules.policies.a", "header rules are not supported"),
]


@pytest.mark.parametrize("edits, at, reason", REJECTED, ids=[r[2] + " " + r[1].rsplit(".", 1)[-1] for r in REJECTED])
def test_rejected(edits, at, reason):
    problems = problems_of(edited(edits))
    assert any(path == at and reason in text for path, text in problems), problems


def test_network_rbac_must_not_be_last():
    tree = edited({TCP_FILTERS: [{"name": "r", "typed_config": {"@type": NETWORK_TYPE, "stat_prefix": "n"}}]})
    assert any("terminal filter" in reason for _, reason in problems_of(tree))
