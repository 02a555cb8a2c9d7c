"""A ``core.v3.RuntimeFractionalPercent`` (the filter_enabled / shadow_enabled of the CORS and
CSRF policies) read as its default_value: (numerator, denominator).

hotproxy's workers have no runtime values, so a ``runtime_key`` is accepted and its default
applies, which is what Envoy does until someone sets the key in its runtime."""
from __future__ import annotations

from ..fields import Enum, Fields, Node

RUNTIME_FRACTIONAL_PERCENT = Fields("default_value runtime_key")
FRACTIONAL_PERCENT = Fields("numerator denominator")
DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
DENOMINATOR = Enum(" ".join(DENOMINATORS))
ALWAYS = (100, 100)


def runtime_fraction(node: Node) -> tuple[int, int] | None:
    m = node.message(RUNTIME_FRACTIONAL_PERCENT)
    if m is None:
        return None
    m.string("runtime_key")
    percent = m.nested("default_value", lambda n: n.message(FRACTIONAL_PERCENT), required=True)
    if percent is None:
        return None
    numerator = percent.uint32("numerator", 0)
    return numerator, DENOMINATORS[percent.enum("denominator", DENOMINATOR, "HUNDRED")]
