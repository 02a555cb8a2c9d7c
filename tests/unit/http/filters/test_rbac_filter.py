"""The RBAC HTTP filter, sans-IO: enforcement, shadow metadata and counters, LOG, per-route
configs, the 403 Envoy sends."""
from types import SimpleNamespace

from filter_fakes import FakeConnection, FakeRequest, FakeStream

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_rbac import http_rbac, http_rbac_per_route
from hotproxy.http.filters import rbac
from hotproxy.http.filters.api import CONTINUE, STOP, FilterContext

NS = "envoy.filters.http.rbac"
ADMIN = {"permissions": [{"url_path": {"path": {"prefix": "/admin"}}}], "principals": [{"any": True}]}
FROM_TEN = {"permissions": [{"any": True}],
            "principals": [{"remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}]}


def parsed(parse, tree):
    node = Node(tree, "typed_config", Context())
    config = parse(node)
    assert not node.ctx.problems, node.ctx.problems
    return config


def make(**config):
    return rbac.factory(parsed(http_rbac, config), FilterContext(None, "http.ingress.", None))


def run(factory, target=b"/", remote_ip="10.0.0.1", headers=(), per_route=None, tls=None):
    stream = FakeStream(FakeRequest(target=target, headers=headers),
                        connection=FakeConnection(remote_ip=remote_ip, tls=tls),
                        per_route={factory.name: per_route} if per_route is not None else None)
    result = factory.create(stream).decode_headers(stream, True)
    return stream, result


def test_deny_answers_403_with_envoys_body_and_details():
    factory = make(rules={"action": "DENY", "policies": {"admin": ADMIN}})
    stream, result = run(factory, b"/admin/users?x=1")
    assert result is STOP
    status, body, headers, details, flag = stream.local_reply
    assert (status, body, headers, details, flag) == (
        403, b"RBAC: access denied", [], "rbac_access_denied_matched_policy[admin]", None)
    assert stream.info.metadata(NS) == {"enforced_effective_policy_id": "admin",
                                        "enforced_engine_result": "denied"}
    stream, result = run(factory, b"/public")
    assert result is CONTINUE and stream.local_reply is None
    assert stream.info.metadata(NS) == {"enforced_engine_result": "allowed"}
    assert (factory.stats.allowed, factory.stats.denied) == (1, 1)


def test_allow_without_a_matching_policy_names_none():
    factory = make(rules={"policies": {"ten": FROM_TEN}})
    assert run(factory, remote_ip="10.1.2.3")[1] is CONTINUE
    stream, _ = run(factory, remote_ip="192.168.0.1")
    assert stream.local_reply[3] == "rbac_access_denied_matched_policy[none]"


def test_remote_ip_is_the_forwarded_client_without_use_remote_address():
    factory = make(rules={"policies": {"ten": FROM_TEN}})
    stream, result = run(factory, remote_ip="192.168.0.1",
                         headers=[(b"x-forwarded-for", b"1.1.1.1, 10.9.9.9")])
    assert result is CONTINUE


def test_shadow_rules_are_never_enforced():
    factory = make(shadow_rules={"policies": {"admin": ADMIN}}, shadow_rules_stat_prefix="s_")
    stream, result = run(factory, b"/admin")
    assert result is CONTINUE
    assert stream.info.metadata(NS) == {"s_shadow_effective_policy_id": "admin",
                                        "s_shadow_engine_result": "allowed"}
    stream, result = run(factory, b"/other")
    assert result is CONTINUE
    assert stream.info.metadata(NS) == {"s_shadow_engine_result": "denied"}
    assert (factory.shadow_stats.shadow_allowed, factory.shadow_stats.shadow_denied) == (1, 1)
    assert (factory.stats.allowed, factory.stats.denied) == (0, 0)


def test_log_allows_and_hints_the_access_log():
    factory = make(rules={"action": "LOG", "policies": {"admin": ADMIN}})
    stream, result = run(factory, b"/admin")
    assert result is CONTINUE and stream.info.metadata("envoy.common") == {"access_log_hint": True}
    stream, _ = run(factory, b"/x")
    assert stream.info.metadata("envoy.common") == {"access_log_hint": False}


def test_stat_names():
    factory = make(rules_stat_prefix="r_", shadow_rules_stat_prefix="s.")
    assert [prefix for prefix, _ in factory.stat_sets()] == ["http.ingress.rbac.r_.",
                                                             "http.ingress.rbac.s."]
    assert [prefix for prefix, _ in make().stat_sets()] == ["http.ingress.rbac.", "http.ingress.rbac."]


def test_per_route_config_replaces_the_rules():
    factory = make(rules={"action": "DENY", "policies": {"admin": ADMIN}})
    per_route = parsed(http_rbac_per_route, {"rbac": {"rules": {"policies": {"ten": FROM_TEN}}}})
    stream, result = run(factory, b"/admin", per_route=per_route)
    assert result is CONTINUE
    stream, result = run(factory, b"/admin", remote_ip="8.8.8.8", per_route=per_route)
    assert stream.local_reply[3] == "rbac_access_denied_matched_policy[none]"
    empty = parsed(http_rbac_per_route, {})
    assert run(factory, b"/admin", per_route=empty)[1] is CONTINUE


def test_authenticated_reads_the_client_certificate():
    factory = make(rules={"policies": {"web": {"permissions": [{"any": True}], "principals": [
        {"authenticated": {"principal_name": {"exact": "spiffe://example.org/web"}}}]}}})
    peer = SimpleNamespace(uris=("spiffe://example.org/web",), dns=(), subject="CN=web")
    tls = SimpleNamespace(server_name="example.org", peer=peer)
    assert run(factory, tls=tls)[1] is CONTINUE
    assert run(factory)[1] is STOP


def test_per_rule_stats():
    factory = make(rules={"action": "DENY", "policies": {"admin": ADMIN}}, rules_stat_prefix="r_",
                   shadow_rules={"policies": {"admin": ADMIN}}, track_per_rule_stats=True)
    run(factory, b"/admin")
    run(factory, b"/other")
    counted = {prefix + name: getattr(stats, name) for prefix, stats in factory.stat_sets()
               for name in stats.counters}
    assert counted == {"http.ingress.rbac.r_.allowed": 1, "http.ingress.rbac.r_.denied": 1,
                       "http.ingress.rbac.shadow_allowed": 1, "http.ingress.rbac.shadow_denied": 1,
                       "http.ingress.rbac.r_.policy.admin.denied": 1,
                       "http.ingress.rbac.policy.admin.shadow_allowed": 1}
