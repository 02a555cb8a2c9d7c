"""Envoy's role-based access control engine, sans-IO: a Rules config (config/rbac.py) compiled
once into plain callables, then ``evaluate(facts)`` per request or connection.

``facts`` is what a check may read (``Facts`` below): the HTTP filter fills in the request, the
network filter leaves it out, and then header matchers see every header missing and path
matchers never match, as in Envoy's network RBAC filter (an empty header map).

Policies are tried in name order, as Envoy keeps them; the first that matches is the effective
policy. A policy matches when one of its permissions and one of its principals match.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from ..errors import ConfigError
from ..matching import compile_string_matcher, header_matcher_outcomes

_MISSING = object()


class Facts:
    """What one check reads. Addresses are text ("10.0.0.1"); ``headers`` is a list of
    (lower-case name, value) bytes pairs or None for a connection; ``peer`` has ``uris``, ``dns``
    and ``subject`` (the client certificate's), None without one; ``tls`` is True on a TLS
    connection; ``metadata`` maps a namespace to its dynamic metadata dict."""

    __slots__ = ("headers", "host", "path", "method", "scheme", "local_ip", "local_port",
                 "source_ip", "direct_remote_ip", "remote_ip", "server_name", "tls", "peer",
                 "metadata")

    def __init__(self, local_ip, local_port, source_ip, direct_remote_ip=None, remote_ip=None,
                 server_name=None, tls=False, peer=None, metadata=None, headers=None, host=None,
                 path=None, method=None, scheme=None):
        self.local_ip = local_ip
        self.local_port = local_port
        self.source_ip = source_ip
        self.direct_remote_ip = direct_remote_ip or source_ip
        self.remote_ip = remote_ip or source_ip
        self.server_name = server_name
        self.tls = tls
        self.peer = peer
        self.metadata = metadata
        self.headers = headers
        self.host = host
        self.path = path
        self.method = method
        self.scheme = scheme


class Outcome:
    """What an evaluation comes to: built once per policy (and once for no match), so that a
    check returns one of these rather than making a tuple; ``extra`` is for a caller's own
    precomputed data about it (the HTTP filter's metadata, counters and details)."""

    __slots__ = ("allowed", "policy", "extra")

    def __init__(self, allowed, policy):
        self.allowed = allowed
        self.policy = policy
        self.extra = None


class Engine:
    """One Rules config compiled. ``where`` names its field path, for errors."""

    def __init__(self, rules, where):
        self.action = action = rules.action
        self.policies = tuple(
            (policy.name, _policy_check(policy, f"{where}.policies.{policy.name}"))
            for policy in rules.policies)
        # LOG allows everything; the policy says whether the request is to be logged
        self.checks = tuple((check, Outcome(action != "DENY", name)) for name, check in self.policies)
        self.no_match = Outcome(action != "ALLOW", None)
        self.outcomes = (*(outcome for _, outcome in self.checks), self.no_match)

    def outcome(self, facts):
        """The Outcome of the first policy that matches, else ``no_match``."""
        for check, outcome in self.checks:
            if check(facts):
                return outcome
        return self.no_match

    def evaluate(self, facts):
        """(allowed, the effective policy's name or None)."""
        outcome = self.outcome(facts)
        return outcome.allowed, outcome.policy


def _policy_check(policy, where):
    permissions = _any_of([compile_rule(rule, f"{where}.permissions[{i}]")
                           for i, rule in enumerate(policy.permissions)])
    principals = _any_of([compile_rule(rule, f"{where}.principals[{i}]")
                          for i, rule in enumerate(policy.principals)])
    # `any: true` on one side (the usual principal) leaves the other side's check alone
    if principals is always:
        return permissions
    if permissions is always:
        return principals
    return lambda facts: permissions(facts) and principals(facts)


def always(facts):
    """The check of ``any: true``: recognised by identity, so that and/or/policies drop it."""
    return True


def _any_of(checks):
    if always in checks:
        return always
    if len(checks) == 1:
        return checks[0]
    return lambda facts: any(check(facts) for check in checks)


def _all_of(checks):
    checks = [check for check in checks if check is not always]
    if not checks:
        return always
    if len(checks) == 1:
        return checks[0]
    return lambda facts: all(check(facts) for check in checks)


def compile_rule(rule, where):
    """A Permission or Principal → ``check(facts) -> bool``."""
    kind, value = rule.kind, rule.value
    if kind == "any":
        return always
    if kind == "and":
        return _all_of([compile_rule(r, f"{where}.and[{i}]") for i, r in enumerate(value)])
    if kind == "or":
        return _any_of([compile_rule(r, f"{where}.or[{i}]") for i, r in enumerate(value)])
    if kind == "not":
        inner = compile_rule(value, f"{where}.not")
        return lambda facts: not inner(facts)
    if kind == "header":
        return compile_header_check(value, f"{where}.header")
    if kind == "url_path":
        test = compile_string_matcher(value, f"{where}.url_path.path")
        return lambda facts: facts.path is not None and bool(test(_without_query(facts.path)))
    if kind in ("destination_ip", "source_ip", "direct_remote_ip", "remote_ip"):
        return _address_check(kind, value)
    if kind == "destination_port":
        return lambda facts: facts.local_port == value
    if kind == "destination_port_range":
        start, end = value
        return lambda facts: start <= facts.local_port < end
    if kind == "requested_server_name":
        test = compile_string_matcher(value, f"{where}.requested_server_name")
        return lambda facts: bool(test((facts.server_name or "").encode()))
    if kind == "authenticated":
        return _authenticated_check(value, f"{where}.authenticated.principal_name")
    if kind == "metadata":
        return _metadata_check(value, f"{where}.metadata")
    raise ConfigError([(where, f"RBAC rule '{kind}' is not supported by hotproxy yet")])


def _without_query(path):
    for mark in (b"?", b"#"):
        at = path.find(mark)
        if at >= 0:
            path = path[:at]
    return path


@lru_cache(maxsize=4096)
def _ip(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _address_check(kind, network):
    attribute = {"destination_ip": "local_ip"}.get(kind, kind)

    def check(facts):
        text = getattr(facts, attribute)
        address = _ip(text) if text else None
        return address is not None and address in network
    return check


def _authenticated_check(matcher, where):
    """Envoy's: any TLS connection when no name is asked for; else the peer certificate's URI
    SANs, then its DNS SANs, then its subject."""
    if matcher is None:
        return lambda facts: facts.tls
    test = compile_string_matcher(matcher, where)

    def check(facts):
        if not facts.tls:
            return False
        peer = facts.peer
        if peer is None:
            return bool(test(b""))
        return (any(test(uri.encode()) for uri in peer.uris)
                or any(test(name.encode()) for name in peer.dns)
                or bool(test(peer.subject.encode())))
    return check


# --- headers: Envoy's HeaderMatcher, as routes use it ------------------------------------------

_PSEUDO_HEADERS = {b":authority": "host", b"host": "host", b":path": "path",
                   b":method": "method", b":scheme": "scheme"}


def compile_header_check(matcher, where):
    """HeaderMatcher → ``check(facts)`` (the outcomes: matching.header_matcher_outcomes)."""
    test, matched, invert, on_missing = header_matcher_outcomes(matcher, where)
    name = matcher.name.encode()
    pseudo = _PSEUDO_HEADERS.get(name)
    if pseudo is not None:
        return _pseudo_header_check(pseudo, test, matched, invert, on_missing)

    def check(facts):
        headers = facts.headers
        if headers is None:
            return on_missing
        missing = True
        for header_name, value in headers:
            if header_name == name:
                if test(value):
                    return matched
                missing = False
        return on_missing if missing else invert
    return check


def _pseudo_header_check(attribute, test, matched, invert, on_missing):
    """``:method``, ``:path``, ``:authority`` (``host``) and ``:scheme`` read a fact. An exact
    match (``test`` is then ``bytes.__eq__``) compares without a call to it."""
    exact = getattr(test, "__self__", None) if getattr(test, "__name__", "") == "__eq__" else None
    if exact.__class__ is bytes:
        def check_exact(facts):
            value = getattr(facts, attribute)
            if value is None:
                return on_missing
            return matched if value == exact else invert
        return check_exact

    def check(facts):
        value = getattr(facts, attribute)
        if value is None:
            return on_missing
        return matched if test(value) else invert
    return check


# --- dynamic metadata ----------------------------------------------------------------------------

def _metadata_check(matcher, where):
    value_test = compile_value_matcher(matcher.value, f"{where}.value")
    namespace, path, invert = matcher.filter, matcher.path, matcher.invert

    def check(facts):
        value = (facts.metadata or {}).get(namespace, _MISSING)
        for key in path:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        return value_test(value) != invert
    return check


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compile_value_matcher(matcher, where):
    """ValueMatcher → ``test(value)``, ``_MISSING`` standing for a value that is not there."""
    kind, expected = matcher.kind, matcher.value
    if kind == "null":
        return lambda value: value is None
    if kind == "present":
        return lambda value: expected and value is not _MISSING
    if kind == "bool":
        return lambda value: isinstance(value, bool) and value == expected
    if kind == "string":
        test = compile_string_matcher(expected, f"{where}.string_match")
        return lambda value: isinstance(value, str) and bool(test(value.encode()))
    if kind == "double":
        if expected[0] == "exact":
            number = expected[1]
            return lambda value: _is_number(value) and value == number
        start, end = expected[1], expected[2]
        return lambda value: _is_number(value) and start <= value < end
    if kind == "list":
        element = compile_value_matcher(expected, f"{where}.list_match.one_of")
        return lambda value: isinstance(value, list) and any(element(item) for item in value)
    tests = [compile_value_matcher(m, f"{where}.or_match.value_matchers[{i}]")
             for i, m in enumerate(expected)]
    return lambda value: any(test(value) for test in tests)
