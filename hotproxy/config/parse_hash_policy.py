"""Parser for ``RouteAction.hash_policy[]`` (envoy.config.route.v3) into route.HashPolicy."""
from __future__ import annotations

from .fields import Fields, Node, present
from .route import HashPolicy

HASH_POLICY = Fields("header cookie connection_properties query_parameter filter_state terminal")
HEADER = Fields("header_name regex_rewrite")
COOKIE = Fields("name ttl path attributes")
COOKIE_ATTRIBUTE = Fields("name value")
CONNECTION_PROPERTIES = Fields("source_ip")
QUERY_PARAMETER = Fields("name")
FILTER_STATE = Fields("key")
#: HTTP/2 pseudo-headers Envoy accepts as a header_name, as their HTTP/1 equivalents
PSEUDO_HEADERS = {":authority": "host"}


def hash_policies(node: Node, regex_rewrite) -> tuple[HashPolicy, ...]:
    """The route's policies; a connection_properties policy with source_ip false is none, as in
    Envoy (it adds no hash method for it). ``regex_rewrite`` parses a RegexMatchAndSubstitute
    (parse_route's, which imports this module)."""
    return tuple(policy for policy in (hash_policy(item, regex_rewrite) for item in node.items())
                 if policy is not None and policy.kind)


def hash_policy(node: Node, regex_rewrite) -> HashPolicy | None:
    m = node.message(HASH_POLICY)
    if m is None:
        return None
    kind = m.one_of("header", "cookie", "connection_properties", "query_parameter", "filter_state")
    terminal = m.boolean("terminal", False)
    if kind == "header":
        h = m.at(kind).message(HEADER)
        if h is None:
            return None
        name = h.string("header_name", required=True, http_safe=True)
        if name is None:
            return None
        name = name.lower()
        return HashPolicy("header", PSEUDO_HEADERS.get(name, name), terminal,
                          regex_rewrite=h.nested("regex_rewrite", regex_rewrite))
    if kind == "cookie":
        c = m.at(kind).message(COOKIE)
        if c is None:
            return None
        name = c.string("name", required=True, http_safe=True)
        ttl = c.duration("ttl")
        attributes = c.repeated("attributes", _cookie_attribute)
        if name is None:
            return None
        return HashPolicy("cookie", name, terminal, **present(
            ttl=None if ttl is None else float(int(ttl)),   # Envoy keeps whole seconds
            path=c.string("path", http_safe=True)), attributes=attributes)
    if kind == "connection_properties":
        p = m.at(kind).message(CONNECTION_PROPERTIES)
        if p is None or not p.boolean("source_ip", False):
            return HashPolicy("")
        return HashPolicy("source_ip", terminal=terminal)
    if kind == "query_parameter":
        q = m.at(kind).message(QUERY_PARAMETER)
        if q is None:
            return None
        name = q.string("name", required=True)
        return None if name is None else HashPolicy("query_parameter", name, terminal)
    if kind == "filter_state":
        f = m.at(kind).message(FILTER_STATE)
        if f is None:
            return None
        key = f.string("key", required=True, non_empty=True)
        return None if key is None else HashPolicy("filter_state", key, terminal)
    return None


def _cookie_attribute(node: Node):
    m = node.message(COOKIE_ATTRIBUTE)
    if m is None:
        return None
    name = m.string("name", required=True, http_safe=True)
    value = m.string("value", "", http_safe=True)
    return None if name is None else (name, value)
