"""Parser for the CORS filter (envoy.extensions.filters.http.cors.v3): the filter's ``Cors``
config, empty in Envoy 1.40, and the ``CorsPolicy`` of a virtual host's or route's
typed_per_filter_config, which holds the policy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core import StringMatcher
from ..fields import Fields, Node, present
from ..parse_core import string_matcher
from ..runtime import RuntimeFraction
from .runtime_fraction import ALWAYS, keyed_runtime_fraction

CORS = Fields("")
CORS_POLICY = Fields(
    "allow_origin_string_match allow_methods allow_headers expose_headers max_age "
    "allow_credentials filter_enabled shadow_enabled allow_private_network_access "
    "forward_not_matching_preflights")


@dataclass(frozen=True)
class Cors:
    runtime: ClassVar[str] = "cors"


@dataclass(frozen=True)
class CorsPolicy:
    """``filter_enabled`` / ``shadow_enabled``: (numerator, denominator) of the requests the
    policy applies to (enforced, or only counted), or a RuntimeFraction when a runtime_key is
    set; unset shadow_enabled is never."""
    runtime: ClassVar[str] = "cors"
    allow_origin_string_match: tuple[StringMatcher, ...] = ()
    allow_methods: str = ""
    allow_headers: str = ""
    expose_headers: str = ""
    max_age: str = ""
    allow_credentials: bool = False
    filter_enabled: tuple[int, int] | RuntimeFraction = ALWAYS
    shadow_enabled: tuple[int, int] | RuntimeFraction | None = None
    allow_private_network_access: bool = False
    forward_not_matching_preflights: bool = True


def parse(node: Node) -> Cors | None:
    return Cors() if node.message(CORS) is not None else None


def parse_per_route(node: Node) -> CorsPolicy | None:
    m = node.message(CORS_POLICY)
    if m is None:
        return None
    text = {name: m.string(name, http_safe=True)
            for name in ("allow_methods", "allow_headers", "expose_headers", "max_age")}
    return CorsPolicy(**present(
        allow_origin_string_match=m.repeated("allow_origin_string_match", string_matcher),
        allow_credentials=m.boolean("allow_credentials"),
        filter_enabled=m.nested("filter_enabled", keyed_runtime_fraction),
        shadow_enabled=m.nested("shadow_enabled", keyed_runtime_fraction),
        allow_private_network_access=m.boolean("allow_private_network_access"),
        forward_not_matching_preflights=m.boolean("forward_not_matching_preflights"),
        **text))
