"""Parsers for role-based access control (envoy.config.rbac.v3.RBAC) and the RBAC filters'
typed configs: the HTTP filter and its per-route config, and the network filter."""
from __future__ import annotations

from .fields import Enum, Fields, Node, present
from .parse_core import header_matcher, string_matcher
from .parse_filter_chain import cidr_range
from .rbac import (MetadataMatcher, NetworkRbac, Policy, RbacFilter, RbacPerRoute, Rule, Rules,
                   ValueMatcher)

NETWORK_RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"

_MATCHER_REFUSED = ("the xDS matcher API is not supported by hotproxy: write the policies in "
                    "'{}' instead")

HTTP_RBAC = Fields("rules rules_stat_prefix shadow_rules shadow_rules_stat_prefix matcher "
                   "shadow_matcher track_per_rule_stats")
RBAC_PER_ROUTE = Fields("rbac")
NETWORK_RBAC = Fields("rules shadow_rules shadow_rules_stat_prefix stat_prefix enforcement_type "
                      "delay_deny matcher shadow_matcher")
# CONTINUOUS re-checks on every read for dynamic metadata that other network filters change;
# hotproxy has no network filter that sets any, so only the first check is offered.
ENFORCEMENT_TYPES = Enum("ONE_TIME_ON_FIRST_BYTE", unsupported="CONTINUOUS")

RBAC = Fields("action policies", unsupported="audit_logging_options")
ACTIONS = Enum("ALLOW DENY LOG")
POLICY = Fields("permissions principals", unsupported="condition checked_condition cel_config")
PERMISSION = Fields(
    "and_rules or_rules any header url_path destination_ip destination_port "
    "destination_port_range metadata not_rule requested_server_name",
    unsupported="matcher uri_template sourced_metadata")
PRINCIPAL = Fields(
    "and_ids or_ids any authenticated source_ip direct_remote_ip remote_ip header url_path "
    "metadata not_id", unsupported="filter_state sourced_metadata custom")
PERMISSION_SET = Fields("rules")
PRINCIPAL_SET = Fields("ids")
AUTHENTICATED = Fields("principal_name")
PATH_MATCHER = Fields("path")
INT32_RANGE = Fields("start end")
METADATA_MATCHER = Fields("filter path value invert")
PATH_SEGMENT = Fields("key")
VALUE_MATCHER = Fields("null_match double_match string_match bool_match present_match "
                       "list_match or_match")
DOUBLE_MATCHER = Fields("range exact")
DOUBLE_RANGE = Fields("start end")
LIST_MATCHER = Fields("one_of")
OR_MATCHER = Fields("value_matchers")
NULL_MATCH = Fields("")

_ADDRESS_KINDS = ("destination_ip", "source_ip", "direct_remote_ip", "remote_ip")


def http_rbac(node: Node) -> RbacFilter | None:
    m = node.message(HTTP_RBAC)
    if m is None:
        return None
    _refuse_matchers(m)
    return RbacFilter(**present(rules=m.nested("rules", rbac_rules),
                                rules_stat_prefix=m.string("rules_stat_prefix"),
                                shadow_rules=m.nested("shadow_rules", rbac_rules),
                                shadow_rules_stat_prefix=m.string("shadow_rules_stat_prefix"),
                                track_per_rule_stats=m.boolean("track_per_rule_stats")))


def http_rbac_per_route(node: Node) -> RbacPerRoute | None:
    m = node.message(RBAC_PER_ROUTE)
    if m is None:
        return None
    return RbacPerRoute(**present(rbac=m.nested("rbac", http_rbac)))


def network_rbac(node: Node) -> NetworkRbac | None:
    m = node.message(NETWORK_RBAC)
    if m is None:
        return None
    _refuse_matchers(m)
    m.enum("enforcement_type", ENFORCEMENT_TYPES)
    stat_prefix = m.string("stat_prefix", required=True)
    rules = m.nested("rules", rbac_rules)
    shadow_rules = m.nested("shadow_rules", rbac_rules)
    for name, parsed in (("rules", rules), ("shadow_rules", shadow_rules)):
        if parsed is not None:
            _refuse_headers(m.at(name), parsed)
    if stat_prefix is None:
        return None
    return NetworkRbac(stat_prefix, **present(
        rules=rules, shadow_rules=shadow_rules,
        shadow_rules_stat_prefix=m.string("shadow_rules_stat_prefix"),
        delay_deny=m.duration("delay_deny")))


def _refuse_headers(node, rules):
    """A connection has no headers: Envoy refuses header rules in the network filter."""
    for policy in rules.policies:
        for rule in (*policy.permissions, *policy.principals):
            if _has_header_rule(rule):
                node.child("policies").child(policy.name).fail(
                    "header rules are not supported by the RBAC network filter")
                break


def _has_header_rule(rule):
    if rule.kind == "header":
        return True
    if rule.kind in ("and", "or"):
        return any(_has_header_rule(inner) for inner in rule.value)
    return rule.kind == "not" and _has_header_rule(rule.value)


def _refuse_matchers(m):
    for name, instead in (("matcher", "rules"), ("shadow_matcher", "shadow_rules")):
        if m.has(name):
            m.at(name).fail(_MATCHER_REFUSED.format(instead))


def rbac_rules(node: Node) -> Rules | None:
    m = node.message(RBAC)
    if m is None:
        return None
    action = m.enum("action", ACTIONS, "ALLOW")
    policies_node = m.get("policies")
    policies = []
    if policies_node is not None:
        if not isinstance(policies_node.value, dict):
            policies_node.fail("expected a mapping of policy names to policies")
        else:
            for name in sorted(policies_node.value):
                parsed = policy(policies_node.child(name, policies_node.value[name]), name)
                if parsed is not None:
                    policies.append(parsed)
    return Rules(action=action, policies=tuple(policies))


def policy(node: Node, name: str) -> Policy | None:
    m = node.message(POLICY)
    if m is None:
        return None
    permissions = _at_least_one(m, "permissions", permission)
    principals = _at_least_one(m, "principals", principal)
    if permissions is None or principals is None:
        return None
    return Policy(name, permissions, principals)


def _at_least_one(m, name, parse):
    nodes = m.items(name)
    if not nodes:
        m.at(name).fail("at least one item is required")
        return None
    parsed = tuple(parse(n) for n in nodes)
    return None if None in parsed else parsed


def permission(node: Node) -> Rule | None:
    m = node.message(PERMISSION)
    if m is None:
        return None
    kind = m.one_of("and_rules", "or_rules", "any", "header", "url_path", "destination_ip",
                    "destination_port", "destination_port_range", "metadata", "not_rule",
                    "requested_server_name")
    if kind in ("and_rules", "or_rules"):
        return _set(m, kind, PERMISSION_SET, "rules", permission)
    if kind == "not_rule":
        return _wrap("not", m.nested(kind, permission))
    if kind == "destination_port":
        return _wrap(kind, m.uint32(kind, maximum=65535))
    if kind == "destination_port_range":
        return _wrap(kind, m.nested(kind, port_range))
    if kind == "requested_server_name":
        return _wrap(kind, m.nested(kind, string_matcher))
    return _common(m, kind)


def principal(node: Node) -> Rule | None:
    m = node.message(PRINCIPAL)
    if m is None:
        return None
    kind = m.one_of("and_ids", "or_ids", "any", "authenticated", "source_ip", "direct_remote_ip",
                    "remote_ip", "header", "url_path", "metadata", "not_id")
    if kind in ("and_ids", "or_ids"):
        return _set(m, kind, PRINCIPAL_SET, "ids", principal)
    if kind == "not_id":
        return _wrap("not", m.nested(kind, principal))
    if kind == "authenticated":
        authenticated = m.nested(kind, lambda n: n.message(AUTHENTICATED))
        if authenticated is None:
            return None
        return Rule(kind, authenticated.nested("principal_name", string_matcher))
    return _common(m, kind)


def _common(m, kind) -> Rule | None:
    """The kinds permissions and principals share."""
    if kind is None:
        return None
    if kind == "any":
        if m.boolean("any") is not True:
            m.at("any").fail("must be true")
            return None
        return Rule("any")
    if kind == "header":
        return _wrap(kind, m.nested(kind, header_matcher))
    if kind == "url_path":
        return _wrap(kind, m.nested(kind, path_matcher))
    if kind in _ADDRESS_KINDS:
        return _wrap(kind, m.nested(kind, lambda n: cidr_range(n, whole_family=True)))
    return _wrap(kind, m.nested(kind, metadata_matcher))


def _set(m, kind, fields, items_name, parse) -> Rule | None:
    inner = m.nested(kind, lambda n: n.message(fields))
    if inner is None:
        return None
    parsed = _at_least_one(inner, items_name, parse)
    return None if parsed is None else Rule("and" if kind.startswith("and") else "or", parsed)


def _wrap(kind, value) -> Rule | None:
    return None if value is None else Rule(kind, value)


def path_matcher(node: Node):
    m = node.message(PATH_MATCHER)
    return None if m is None else m.nested("path", string_matcher, required=True)


def port_range(node: Node) -> tuple[int, int] | None:
    m = node.message(INT32_RANGE)
    if m is None:
        return None
    start, end = m.uint32("start", 0, maximum=65536), m.uint32("end", 0, maximum=65536)
    if start >= end:
        m.node.fail(f"range start {start} cannot be greater or equal than range end {end}")
        return None
    return start, end


def metadata_matcher(node: Node) -> MetadataMatcher | None:
    m = node.message(METADATA_MATCHER)
    if m is None:
        return None
    namespace = m.string("filter", required=True)
    segments = m.items("path")
    if not segments:
        m.at("path").fail("at least one item is required")
    keys = tuple(key for key in (_path_segment(n) for n in segments) if key is not None)
    value = m.nested("value", value_matcher, required=True)
    if namespace is None or value is None or len(keys) != len(segments) or not keys:
        return None
    return MetadataMatcher(namespace, keys, value, **present(invert=m.boolean("invert")))


def _path_segment(node: Node) -> str | None:
    m = node.message(PATH_SEGMENT)
    return None if m is None else m.string("key", required=True)


def value_matcher(node: Node) -> ValueMatcher | None:
    m = node.message(VALUE_MATCHER)
    if m is None:
        return None
    kind = m.one_of("null_match", "double_match", "string_match", "bool_match", "present_match",
                    "list_match", "or_match")
    if kind == "null_match":
        return None if m.nested(kind, lambda n: n.message(NULL_MATCH)) is None else ValueMatcher("null")
    if kind == "double_match":
        return _wrap_value("double", m.nested(kind, double_matcher))
    if kind == "string_match":
        return _wrap_value("string", m.nested(kind, string_matcher))
    if kind in ("bool_match", "present_match"):
        return _wrap_value("bool" if kind == "bool_match" else "present", m.boolean(kind))
    if kind == "list_match":
        inner = m.nested(kind, lambda n: n.message(LIST_MATCHER))
        return inner and _wrap_value("list", inner.nested("one_of", value_matcher, required=True))
    if kind == "or_match":
        inner = m.nested(kind, lambda n: n.message(OR_MATCHER))
        if inner is None:
            return None
        nodes = inner.items("value_matchers")
        if len(nodes) < 2:
            inner.at("value_matchers").fail("at least two items are required")
            return None
        parsed = tuple(value_matcher(n) for n in nodes)
        return None if None in parsed else ValueMatcher("or", parsed)
    return None


def _wrap_value(kind, value) -> ValueMatcher | None:
    return None if value is None else ValueMatcher(kind, value)


def double_matcher(node: Node):
    m = node.message(DOUBLE_MATCHER)
    if m is None:
        return None
    kind = m.one_of("range", "exact")
    if kind == "exact":
        value = m.get("exact").double()
        return None if value is None else ("exact", value)
    if kind == "range":
        bounds = m.nested("range", lambda n: n.message(DOUBLE_RANGE))
        if bounds is None:
            return None
        start = bounds.get("start").double() if bounds.has("start") else 0.0
        end = bounds.get("end").double() if bounds.has("end") else 0.0
        if start is None or end is None:
            return None
        return ("range", start, end)
    return None
