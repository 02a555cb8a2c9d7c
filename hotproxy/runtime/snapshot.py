"""What a process reads of the runtime: a ``Snapshot`` of the final values, typed once when it is
installed, and replaced whole (one assignment) when the arbiter sends new values.

``install(values)`` takes ``Runtime.snapshot()``'s mapping and makes it the process's snapshot;
until then the snapshot is empty and every read gets its default. The module-level readers read
whichever snapshot is installed when they are called:

- ``fraction_enabled(key, (numerator, denominator), random_value)``: Envoy's featureEnabled for a
  RuntimeFractionalPercent: ``random_value % denominator < numerator`` with the key's fractional
  percent, or its integer as a percentage (above 100: always), else the default;
- ``feature_enabled(key, default_percent, random_value=None)``: Envoy's featureEnabled for an
  integer percentage (0 never, 100 always, without a random value);
- ``get_integer(key, default)``, ``get_double(key, default)``, ``get_boolean(key, default)``.

``random_value()`` is a 64-bit random number, Envoy's kind of draw.
"""
from __future__ import annotations

import random

from .values import typed

_getrandbits = random.getrandbits
_ALWAYS = (1, 1)


class Snapshot:
    """Typed final values: each key in the maps its value has a type in."""

    __slots__ = ("values", "percents", "integers", "doubles", "booleans")

    def __init__(self, values=None):
        self.values = dict(values or {})
        #: key → (numerator, denominator) as fraction_enabled reads it
        self.percents = {}
        self.integers = {}
        self.doubles = {}
        self.booleans = {}
        for key, value in self.values.items():
            double, integer, boolean, percent = typed(value)
            if double is not None:
                self.doubles[key] = double
            if integer is not None:
                self.integers[key] = integer
            if boolean is not None:
                self.booleans[key] = boolean
            if percent is not None:
                self.percents[key] = percent
            elif integer is not None:
                # An integer is a percentage; above 100, every draw is in.
                self.percents[key] = _ALWAYS if integer > 100 else (integer, 100)

    def fraction_enabled(self, key, default, random_value) -> bool:
        numerator, denominator = self.percents.get(key, default)
        return random_value % denominator < numerator

    def feature_enabled(self, key, default_percent, random_value=None) -> bool:
        cutoff = min(self.integers.get(key, default_percent), 100)
        if random_value is None:
            if cutoff <= 0:
                return False
            if cutoff >= 100:
                return True
            random_value = _getrandbits(64)
        return random_value % 100 < cutoff

    def get_integer(self, key, default):
        return self.integers.get(key, default)

    def get_double(self, key, default):
        return self.doubles.get(key, default)

    def get_boolean(self, key, default):
        return self.booleans.get(key, default)


_current = Snapshot()


def install(values) -> Snapshot:
    """Make ``values`` (``Runtime.snapshot()``'s mapping) this process's snapshot."""
    global _current
    snapshot = Snapshot(values)
    _current = snapshot
    return snapshot


def current() -> Snapshot:
    return _current


def random_value() -> int:
    return _getrandbits(64)


def fraction_enabled(key, default, random_value) -> bool:
    numerator, denominator = _current.percents.get(key, default)
    return random_value % denominator < numerator


def feature_enabled(key, default_percent, random_value=None) -> bool:
    return _current.feature_enabled(key, default_percent, random_value)


def get_integer(key, default):
    return _current.integers.get(key, default)


def get_double(key, default):
    return _current.doubles.get(key, default)


def get_boolean(key, default):
    return _current.booleans.get(key, default)
