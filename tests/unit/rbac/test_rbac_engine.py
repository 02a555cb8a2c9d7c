"""The RBAC engine, sans-IO: each permission and principal kind, and/or/not, the actions and
the effective policy, on Facts built by hand."""
from types import SimpleNamespace

import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_rbac import rbac_rules
from hotproxy.rbac.engine import Engine, Facts


def engine(action, policies):
    node = Node({"action": action, "policies": policies}, "rules", Context())
    rules = rbac_rules(node)
    assert not node.ctx.problems, node.ctx.problems
    return Engine(rules, "rules")


def facts(**overrides):
    values = dict(local_ip="10.0.0.2", local_port=8080, source_ip="192.168.1.5",
                  headers=[(b"host", b"example.com"), (b"x-role", b"admin"), (b"x-role", b"ops")],
                  host=b"example.com", path=b"/api/items?id=1", method=b"GET", scheme=b"http")
    values.update(overrides)
    return Facts(**values)


def allows(permission=None, principal=None, **fact_overrides):
    policy = {"permissions": [permission or {"any": True}],
              "principals": [principal or {"any": True}]}
    return engine("ALLOW", {"p": policy}).evaluate(facts(**fact_overrides))[0]


@pytest.mark.parametrize("permission, expected", [
    ({"any": True}, True),
    ({"header": {"name": "x-role", "string_match": {"exact": "ops"}}}, True),   # any value
    ({"header": {"name": "x-role", "string_match": {"exact": "dev"}}}, False),
    ({"header": {"name": "x-missing", "present_match": False}}, True),
    ({"header": {"name": ":method", "string_match": {"exact": "GET"}}}, True),
    ({"header": {"name": ":path", "string_match": {"prefix": "/api"}}}, True),
    ({"header": {"name": "x-role", "string_match": {"exact": "admin"}, "invert_match": True}}, False),
    ({"url_path": {"path": {"exact": "/api/items"}}}, True),      # the query is not the path
    ({"url_path": {"path": {"exact": "/api/items?id=1"}}}, False),
    ({"destination_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}, True),
    ({"destination_ip": {"address_prefix": "10.1.0.0", "prefix_len": 16}}, False),
    ({"destination_port": 8080}, True),
    ({"destination_port": 8081}, False),
    ({"destination_port_range": {"start": 8000, "end": 8081}}, True),
    ({"destination_port_range": {"start": 8000, "end": 8080}}, False),   # end excluded
    ({"and_rules": {"rules": [{"destination_port": 8080}, {"url_path": {"path": {"prefix": "/api"}}}]}}, True),
    ({"and_rules": {"rules": [{"destination_port": 8080}, {"url_path": {"path": {"prefix": "/x"}}}]}}, False),
    ({"or_rules": {"rules": [{"destination_port": 1}, {"url_path": {"path": {"prefix": "/api"}}}]}}, True),
    ({"not_rule": {"destination_port": 8080}}, False),
    ({"requested_server_name": {"exact": ""}}, True),             # no SNI reads as ""
])
def test_permissions(permission, expected):
    assert allows(permission) is expected


@pytest.mark.parametrize("principal, expected", [
    ({"source_ip": {"address_prefix": "192.168.0.0", "prefix_len": 16}}, True),
    ({"direct_remote_ip": {"address_prefix": "192.168.1.5", "prefix_len": 32}}, True),
    ({"remote_ip": {"address_prefix": "192.168.1.6", "prefix_len": 32}}, False),
    ({"remote_ip": {"address_prefix": "1.2.3.4"}}, True),         # no prefix_len: length 0
    ({"remote_ip": {"address_prefix": "::1"}}, False),            # ... of its family only
    ({"header": {"name": "x-role", "string_match": {"exact": "admin"}}}, True),
    ({"url_path": {"path": {"suffix": "items"}}}, True),
    ({"and_ids": {"ids": [{"any": True}, {"not_id": {"any": True}}]}}, False),
    ({"or_ids": {"ids": [{"not_id": {"any": True}}, {"any": True}]}}, True),
    ({"authenticated": {}}, False),                               # plain text
])
def test_principals(principal, expected):
    assert allows(principal=principal) is expected


def test_remote_ip_reads_the_remote_address_not_the_peer():
    principal = {"remote_ip": {"address_prefix": "203.0.113.7", "prefix_len": 32}}
    assert allows(principal=principal, remote_ip="203.0.113.7")
    assert not allows(principal={"direct_remote_ip": principal["remote_ip"]}, remote_ip="203.0.113.7")


PEER = SimpleNamespace(uris=("spiffe://cluster.local/ns/a/sa/web",), dns=("web.internal",),
                       subject="CN=web,O=Example")


@pytest.mark.parametrize("name, expected", [
    (None, True),
    ({"exact": "spiffe://cluster.local/ns/a/sa/web"}, True),    # URI SAN
    ({"exact": "web.internal"}, True),                          # then DNS SAN
    ({"exact": "CN=web,O=Example"}, True),                      # then the subject
    ({"prefix": "spiffe://cluster.local/ns/b/"}, False),
])
def test_authenticated(name, expected):
    principal = {"authenticated": {} if name is None else {"principal_name": name}}
    assert allows(principal=principal, tls=True, peer=PEER) is expected


def test_authenticated_without_a_client_certificate():
    assert allows(principal={"authenticated": {}}, tls=True, peer=None)
    assert not allows(principal={"authenticated": {"principal_name": {"prefix": "spiffe://"}}},
                      tls=True, peer=None)


def test_requested_server_name():
    permission = {"requested_server_name": {"suffix": ".example.com"}}
    assert allows(permission, server_name="api.example.com")
    assert not allows(permission, server_name="api.example.org")


@pytest.mark.parametrize("value, metadata, expected", [
    ({"string_match": {"exact": "gold"}}, {"tier": "gold"}, True),
    ({"string_match": {"exact": "gold"}}, {"tier": "silver"}, False),
    ({"bool_match": True}, {"tier": True}, True),
    ({"double_match": {"range": {"start": 1, "end": 5}}}, {"tier": 3}, True),
    ({"double_match": {"exact": 1}}, {"tier": True}, False),       # a bool is not a number
    ({"present_match": True}, {}, False),
    ({"present_match": True}, {"tier": None}, True),
    ({"null_match": {}}, {"tier": None}, True),
    ({"list_match": {"one_of": {"string_match": {"exact": "b"}}}}, {"tier": ["a", "b"]}, True),
    ({"or_match": {"value_matchers": [{"bool_match": True}, {"string_match": {"exact": "x"}}]}},
     {"tier": "x"}, True),
])
def test_metadata(value, metadata, expected):
    permission = {"metadata": {"filter": "acme", "path": [{"key": "tier"}], "value": value}}
    assert allows(permission, metadata={"acme": metadata}) is expected


def test_metadata_nested_path_and_invert():
    permission = {"metadata": {"filter": "acme", "path": [{"key": "a"}, {"key": "b"}],
                               "value": {"string_match": {"exact": "v"}}, "invert": True}}
    assert not allows(permission, metadata={"acme": {"a": {"b": "v"}}})
    assert allows(permission, metadata=None)


def test_policies_are_tried_in_name_order():
    rules = engine("ALLOW", {
        "zeta": {"permissions": [{"any": True}], "principals": [{"any": True}]},
        "alpha": {"permissions": [{"destination_port": 8080}], "principals": [{"any": True}]}})
    assert rules.evaluate(facts()) == (True, "alpha")


def test_a_policy_needs_one_permission_and_one_principal():
    rules = engine("ALLOW", {"p": {
        "permissions": [{"destination_port": 1}, {"destination_port": 8080}],
        "principals": [{"source_ip": {"address_prefix": "8.8.8.8", "prefix_len": 32}},
                       {"header": {"name": "x-role", "present_match": True}}]}})
    assert rules.evaluate(facts()) == (True, "p")
    assert rules.evaluate(facts(headers=[])) == (False, None)


def test_actions():
    policy = {"p": {"permissions": [{"destination_port": 8080}], "principals": [{"any": True}]}}
    assert engine("DENY", policy).evaluate(facts()) == (False, "p")
    assert engine("DENY", policy).evaluate(facts(local_port=1)) == (True, None)
    assert engine("LOG", policy).evaluate(facts()) == (True, "p")
    assert engine("LOG", policy).evaluate(facts(local_port=1)) == (True, None)
    assert engine("ALLOW", {}).evaluate(facts()) == (False, None)


def test_a_connection_has_no_headers_and_no_path():
    connection = {"headers": None, "host": None, "path": None, "method": None, "scheme": None}
    assert not allows({"url_path": {"path": {"prefix": "/"}}}, **connection)
    assert allows({"header": {"name": "x-role", "present_match": False}}, **connection)
    assert not allows({"header": {"name": ":path", "present_match": True}}, **connection)
