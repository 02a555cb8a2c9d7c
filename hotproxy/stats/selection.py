"""What ``stats_config`` decides per stat name, compiled once from the config: whether the stat
exists at all (``stats_matcher``), and which Prometheus bucket bounds a histogram has
(``histogram_bucket_settings``, the first that matches; Envoy's defaults otherwise).

As in Envoy, the matcher sees the full stat name (``cluster.backend.upstream_rq_2xx``), before
tag extraction. Answers are cached: stat names are few and repeat at every flush."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..matching import compile_string_matcher
from .histogram import BUCKETS

if TYPE_CHECKING:
    from ..config.bootstrap import StatsConfig


class StatsSelection:
    def __init__(self, stats_config: StatsConfig | None = None):
        matcher = stats_config.stats_matcher if stats_config is not None else None
        self._test = _matcher_test(matcher)
        settings = stats_config.histogram_bucket_settings if stats_config is not None else ()
        self._buckets = [(compile_string_matcher(setting.match, "histogram_bucket_settings.match"),
                          setting.buckets) for setting in settings]
        self._accepted: dict[str, bool] = {}
        self._bounds: dict[str, tuple] = {}

    @property
    def accepts_all(self) -> bool:
        return self._test is None

    def accepts(self, name: str) -> bool:
        if self._test is None:
            return True
        accepted = self._accepted.get(name)
        if accepted is None:
            accepted = self._accepted[name] = bool(self._test(name.encode()))
        return accepted

    def bucket_bounds(self, name: str) -> tuple:
        bounds = self._bounds.get(name)
        if bounds is None:
            encoded = name.encode()
            bounds = next((buckets for test, buckets in self._buckets if test(encoded)), BUCKETS)
            self._bounds[name] = bounds
        return bounds


def _matcher_test(matcher):
    """``test(name: bytes)`` true for the stats that exist; None when every stat does."""
    if matcher is None:
        return None
    if matcher.kind == "reject_all":
        return (lambda _name: False) if matcher.reject_all else None
    tests = [compile_string_matcher(pattern, f"stats_matcher.{matcher.kind}")
             for pattern in matcher.patterns]
    if matcher.kind == "inclusion_list":
        return lambda name: any(test(name) for test in tests)
    return lambda name: not any(test(name) for test in tests)
