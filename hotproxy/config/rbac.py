"""Role-based access control (envoy.config.rbac.v3) and the RBAC filters' typed configs, HTTP and
network, as frozen dataclasses. Parsed by parse_rbac.py; compiled by hotproxy/rbac/engine.py."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from .listener import NetworkFilter


@dataclass(frozen=True)
class ValueMatcher:
    """envoy.type.matcher.v3.ValueMatcher. ``kind``: "null", "double" (``value`` is
    ("exact", x) or ("range", start, end)), "string" (a StringMatcher), "bool", "present",
    "list" (a ValueMatcher one of the list's items must match), "or" (a tuple of them)."""
    kind: str
    value: object = None


@dataclass(frozen=True)
class MetadataMatcher:
    """envoy.type.matcher.v3.MetadataMatcher on the dynamic metadata: the value at ``path``
    (keys into nested structs) of namespace ``filter``."""
    filter: str
    path: tuple[str, ...]
    value: ValueMatcher
    invert: bool = False


@dataclass(frozen=True)
class Rule:
    """One Permission or Principal, by the kind of its oneof:

    - "any"; "header" (core HeaderMatcher); "url_path" (StringMatcher on the path sans query);
    - "destination_ip", "source_ip", "direct_remote_ip", "remote_ip" (an ``ipaddress`` network);
    - "destination_port" (int); "destination_port_range" ((start, end), end excluded);
    - "and", "or" (a tuple of Rules); "not" (a Rule);
    - "metadata" (MetadataMatcher); "requested_server_name" (StringMatcher);
    - "authenticated" (a StringMatcher on the peer certificate's name, None: any TLS peer).
    """
    kind: str
    value: object = None


@dataclass(frozen=True)
class Policy:
    name: str
    permissions: tuple[Rule, ...]
    principals: tuple[Rule, ...]


@dataclass(frozen=True)
class Rules:
    """envoy.config.rbac.v3.RBAC: ``action`` ALLOW, DENY or LOG; the policies sorted by name,
    the order Envoy tries them in (the first that matches is the effective policy)."""
    action: str
    policies: tuple[Policy, ...]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RbacFilter:
    """envoy.extensions.filters.http.rbac.v3.RBAC. No ``rules``: nothing is enforced.
    ``track_per_rule_stats``: also count by the policy that decided."""
    runtime: ClassVar[str] = "rbac"
    rules: Rules | None = None
    rules_stat_prefix: str = ""
    shadow_rules: Rules | None = None
    shadow_rules_stat_prefix: str = ""
    track_per_rule_stats: bool = False


@dataclass(frozen=True)
class RbacPerRoute:
    """envoy.extensions.filters.http.rbac.v3.RBACPerRoute: ``rbac`` replaces the filter's
    config for the route (an absent one turns the filter's rules off there)."""
    runtime: ClassVar[str] = "rbac"
    rbac: RbacFilter = RbacFilter()


@dataclass(frozen=True)
class NetworkRbac(NetworkFilter):
    """envoy.extensions.filters.network.rbac.v3.RBAC: checked once per connection; a denied
    connection is closed (after ``delay_deny`` seconds when set)."""
    runtime: ClassVar[str] = "rbac"
    stat_prefix: str
    rules: Rules | None = None
    shadow_rules: Rules | None = None
    shadow_rules_stat_prefix: str = ""
    delay_deny: float = 0.0
