"""What the RBAC engine works out once per config so that a request pays less: one Outcome per
policy and one for no match, ``any: true`` dropped from policies and and/or rules, and exact
pseudo-header matches compared without a call. Each must decide as the rules say."""
import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_rbac import rbac_rules
from hotproxy.rbac.engine import Engine, Facts, always, compile_rule


def engine(action, policies):
    node = Node({"action": action, "policies": policies}, "rules", Context())
    rules = rbac_rules(node)
    assert not node.ctx.problems, node.ctx.problems
    return Engine(rules, "rules")


def facts(**overrides):
    values = dict(local_ip="10.0.0.2", local_port=8080, source_ip="192.168.1.5",
                  headers=[(b"host", b"example.com")], host=b"example.com", path=b"/api",
                  method=b"GET", scheme=b"http")
    values.update(overrides)
    return Facts(**values)


GET_ONLY = {"permissions": [{"header": {"name": ":method", "string_match": {"exact": "GET"}}}],
            "principals": [{"any": True}]}
FROM_TEN = {"permissions": [{"any": True}],
            "principals": [{"remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}]}


@pytest.mark.parametrize("action, allowed_on_match, allowed_otherwise", [
    ("ALLOW", True, False), ("DENY", False, True), ("LOG", True, True)])
def test_each_policy_has_one_outcome_and_no_match_another(action, allowed_on_match,
                                                          allowed_otherwise):
    rules = engine(action, {"get-only": GET_ONLY, "ten": FROM_TEN})
    matched = rules.outcome(facts())
    assert (matched.allowed, matched.policy) == (allowed_on_match, "get-only")
    assert rules.outcome(facts()) is matched           # the same object every time
    other = rules.outcome(facts(method=b"POST", source_ip="10.1.1.1"))
    assert (other.allowed, other.policy) == (allowed_on_match, "ten")
    missed = rules.outcome(facts(method=b"POST"))
    assert missed is rules.no_match
    assert (missed.allowed, missed.policy) == (allowed_otherwise, None)
    assert rules.evaluate(facts(method=b"POST")) == (allowed_otherwise, None)
    assert set(rules.outcomes) == {matched, other, missed}


def test_a_policy_whose_principal_is_any_is_its_permission_check():
    rules = engine("ALLOW", {"get-only": GET_ONLY})
    (_, check), = rules.policies
    assert check.__name__ == "check_exact"      # no and-lambda around it
    assert rules.outcome(facts(method=b"GET")).allowed
    assert not rules.outcome(facts(method=b"DELETE")).allowed


class Rule:
    def __init__(self, kind, value=None):
        self.kind, self.value = kind, value


def test_any_absorbs_or_and_drops_out_of_and():
    port = Rule("destination_port", 8080)
    assert compile_rule(Rule("or", [port, Rule("any")]), "p") is always
    alone = compile_rule(Rule("and", [Rule("any"), port]), "p")
    assert alone is not always
    assert alone(facts()) and not alone(facts(local_port=1))
    assert compile_rule(Rule("and", [Rule("any"), Rule("any")]), "p") is always
    assert not compile_rule(Rule("not", Rule("any")), "p")(facts())


@pytest.mark.parametrize("matcher, method, expected", [
    ({"string_match": {"exact": "GET"}}, b"GET", True),
    ({"string_match": {"exact": "GET"}}, b"get", False),
    ({"string_match": {"exact": "GET"}}, None, False),          # missing
    ({"string_match": {"exact": "GET"}, "invert_match": True}, b"GET", False),
    ({"string_match": {"exact": "GET"}, "invert_match": True}, b"PUT", True),
    ({"string_match": {"exact": "GET"}, "treat_missing_header_as_empty": True}, None, False),
    ({"string_match": {"exact": ""}, "treat_missing_header_as_empty": True}, None, True),
    ({"string_match": {"exact": "get", "ignore_case": True}}, b"GET", True),   # not exact: a call
    ({"string_match": {"prefix": "G"}}, b"GET", True),
])
def test_pseudo_header_matches_decide_as_the_generic_check(matcher, method, expected):
    rules = engine("ALLOW", {"p": {"permissions": [{"header": {"name": ":method", **matcher}}],
                                   "principals": [{"any": True}]}})
    assert rules.outcome(facts(method=method)).allowed is expected
