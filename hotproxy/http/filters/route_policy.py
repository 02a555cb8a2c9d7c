"""What the CORS, CSRF, buffer, header mutation and header-to-metadata filters share: their
per-route config for a stream, and the draws of a runtime fractional percent."""
from __future__ import annotations

import random

from ...config.runtime import RuntimeFraction
from ...runtime import fraction_enabled


def route_config(stream, name):
    """The parsed typed_per_filter_config of ``name`` for the stream's route, unwrapped from a
    FilterConfig; None when there is none (or no route)."""
    return stream.route_config(name) if stream.route is not None else None


def drawer(fraction, rng=random):
    """``draw() -> bool``, True for the share of requests ``fraction`` covers: a (numerator,
    denominator) tuple, a RuntimeFraction (the runtime's value of its key when it has one, else
    its default, drawn with 64 random bits as Envoy's featureEnabled), or None (none). Chosen
    once per policy, so that a fraction without a runtime key costs what it always did."""
    if fraction is None:
        return never
    if isinstance(fraction, RuntimeFraction):
        key, default, bits = fraction.runtime_key, fraction.default, rng.getrandbits
        return lambda: fraction_enabled(key, default, bits(64))
    numerator, denominator = fraction
    if numerator >= denominator:
        return always
    if numerator <= 0:
        return never
    random_ = rng.random
    return lambda: random_() * denominator < numerator


def always():
    return True


def never():
    return False


class CompiledCache:
    """Per-route configs compiled on first use: a route table holds few of them."""

    __slots__ = ("_compile", "_compiled")

    def __init__(self, compile_):
        self._compile = compile_
        self._compiled = {}

    def get(self, config):
        # by identity: hashing a frozen dataclass walks all of it on every request. The entry
        # keeps the config alive, so its id is never reused for another.
        entry = self._compiled.get(id(config))
        if entry is None:
            entry = self._compiled[id(config)] = (config, self._compile(config))
        return entry[1]
