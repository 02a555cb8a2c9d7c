"""Parser for the CSRF filter's ``CsrfPolicy`` (envoy.extensions.filters.http.csrf.v3), both as
the filter's config and as a virtual host's or route's typed_per_filter_config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core import StringMatcher
from ..fields import Fields, Node
from ..parse_core import string_matcher
from ..runtime import RuntimeFraction
from .runtime_fraction import keyed_runtime_fraction

CSRF_POLICY = Fields("filter_enabled shadow_enabled additional_origins")


@dataclass(frozen=True)
class CsrfPolicy:
    """``filter_enabled`` / ``shadow_enabled``: (numerator, denominator), or a RuntimeFraction
    when a runtime_key is set; None is never."""
    runtime: ClassVar[str] = "csrf"
    filter_enabled: tuple[int, int] | RuntimeFraction | None
    shadow_enabled: tuple[int, int] | RuntimeFraction | None = None
    additional_origins: tuple[StringMatcher, ...] = ()


def parse(node: Node) -> CsrfPolicy | None:
    m = node.message(CSRF_POLICY)
    if m is None:
        return None
    return CsrfPolicy(
        filter_enabled=m.nested("filter_enabled", keyed_runtime_fraction, required=True),
        shadow_enabled=m.nested("shadow_enabled", keyed_runtime_fraction),
        additional_origins=m.repeated("additional_origins", string_matcher))


parse_per_route = parse
