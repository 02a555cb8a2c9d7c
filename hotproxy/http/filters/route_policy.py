"""What the CORS, CSRF, buffer, header mutation and header-to-metadata filters share: their
per-route config for a stream, and the draws of a runtime fractional percent."""
from __future__ import annotations

import random


def route_config(stream, name):
    """The parsed typed_per_filter_config of ``name`` for the stream's route, unwrapped from a
    FilterConfig; None when there is none (or no route)."""
    return stream.route_config(name) if stream.route is not None else None


def draw(fraction, rng=random.random):
    """True for the share of requests (numerator, denominator) covers; None covers none."""
    if fraction is None:
        return False
    numerator, denominator = fraction
    if numerator >= denominator:
        return True
    return numerator > 0 and rng() * denominator < numerator


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
