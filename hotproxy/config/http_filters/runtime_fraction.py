"""A ``core.v3.RuntimeFractionalPercent`` as the HTTP filters keep it.

- ``keyed_runtime_fraction``: (numerator, denominator) of its default_value when it has no
  runtime_key, else a ``config.runtime.RuntimeFraction`` whose key the filter reads in the
  runtime (CORS, CSRF, local_ratelimit, ext_authz: http/filters/route_policy.py ``drawer``). A fraction without a key
  stays a plain tuple, drawn as cheaply as before.
- ``runtime_fraction``: the default_value's (numerator, denominator) only, for a filter that
  does not read the runtime (none of the HTTP filters now): a runtime_key is accepted and its
  default applies, which is what Envoy does while the runtime has no value for the key."""
from __future__ import annotations

from ..fields import Node
from ..parse_runtime import runtime_fractional_percent
from ..runtime import RuntimeFraction

ALWAYS = (100, 100)


def keyed_runtime_fraction(node: Node) -> tuple[int, int] | RuntimeFraction | None:
    fraction = runtime_fractional_percent(node)
    if fraction is None:
        return None
    return fraction if fraction.runtime_key else fraction.default


def runtime_fraction(node: Node) -> tuple[int, int] | None:
    fraction = runtime_fractional_percent(node)
    return None if fraction is None else fraction.default
