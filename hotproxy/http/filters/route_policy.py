"""What the CORS, CSRF, buffer, header mutation and header-to-metadata filters share: their
per-route config for a stream, and the draws of a runtime fractional percent."""
from __future__ import annotations

import random


def route_config(stream, name):
    """The parsed typed_per_filter_config of ``name`` for the stream's route, unwrapped from a
    FilterConfig; None when there is none (or no route)."""
    if stream.route is None:
        return None
    config = stream.route_config(name)
    if config is not None and hasattr(config, "disabled") and hasattr(config, "config"):
        return config.config
    return config


def draw(fraction, rng=random.random):
    """True for the share of requests (numerator, denominator) covers; None covers none."""
    if fraction is None:
        return False
    numerator, denominator = fraction
    if numerator >= denominator:
        return True
    return numerator > 0 and rng() * denominator < numerator


class CompiledCache:
    """Per-route configs compiled on first use: a route table holds few of them, and the
    parsed configs are frozen dataclasses, so they key the cache."""

    __slots__ = ("_compile", "_compiled")

    def __init__(self, compile_):
        self._compile = compile_
        self._compiled = {}

    def get(self, config):
        compiled = self._compiled.get(config)
        if compiled is None:
            compiled = self._compiled[config] = self._compile(config)
        return compiled
