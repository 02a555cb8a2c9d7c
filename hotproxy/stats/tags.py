"""Envoy's tag extraction, which turns a stat name into the name and labels Prometheus sees:
``cluster.backend.upstream_rq_2xx`` becomes ``cluster.upstream_rq_xx`` with the tags
``envoy_response_code_class="2"`` and ``envoy_cluster_name="backend"``.

As in Envoy (source/common/stats/tag_producer_impl.cc), every extractor looks at the whole stat
name: a regex's first capture group is the part removed from the name, its second (or, without
one, its first) is the tag's value; a fixed value is added to every stat and removes nothing.
The removals are made once all extractors have looked. A stat gets a tag name at most once: the
first extractor of that name that matches wins.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config.bootstrap import StatsConfig, StatsTag

_ADDRESS = r"(?:(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+)"   # 127.0.0.1_80
_SEGMENT = r"[^.]+"

# Envoy's defaults (source/common/config/well_known_names.cc) for the stats hotproxy has, in the
# order Envoy applies them, then hotproxy's own. Envoy writes some as token patterns such as
# ``cluster.$.**``; those are given here as the regexes they amount to.
DEFAULT_TAGS = (
    ("envoy_response_code", r"_rq(_(\d{3}))$"),
    ("envoy_response_code_class", r"_rq_((\d))xx$"),
    ("envoy_tls_certificate", r"\.ssl\.certificate\.(([^.]+)\.)expiration_unix_time_seconds$"),
    # listener.<address>.ssl.ciphers.<cipher> and cluster.<name>.ssl.ciphers.<cipher>: the rest
    # of the name is the value, dots included (ssl.versions.TLSv1.3)
    ("envoy_ssl_cipher", r"^(?:listener|cluster)\..*\.ssl\.ciphers(\.(.+))$"),
    ("envoy_ssl_version", r"^(?:listener|cluster)\..*\.ssl\.versions(\.(.+))$"),
    ("envoy_ssl_curve", r"^(?:listener|cluster)\..*\.ssl\.curves(\.(.+))$"),
    ("envoy_ssl_sigalg", r"^(?:listener|cluster)\..*\.ssl\.sigalgs(\.(.+))$"),
    ("envoy_http_conn_manager_prefix", rf"^listener\..*?\.http\.(({_SEGMENT})\.)"),
    ("envoy_worker_id", rf"^(?:listener\.(?:{_ADDRESS}|{_SEGMENT})\.|server\.|listener_manager\.)"
                        rf"worker_((\d+)\.)"),
    # Envoy leaves the admin listener's stats (listener.admin.*) untagged.
    ("envoy_listener_address", rf"^listener\.((?!admin\.)({_ADDRESS}|{_SEGMENT})\.)"),
    ("envoy_tcp_prefix", rf"^tcp\.(({_SEGMENT})\.)"),
    ("envoy_cluster_name", rf"^cluster\.(({_SEGMENT})\.)"),
    ("envoy_http_conn_manager_prefix", rf"^http\.(({_SEGMENT})\.)"),
    ("hotproxy_generation", rf"^server\.generation\.(({_SEGMENT})\.)"),
)
DEFAULT_TAG_NAMES = frozenset(name for name, _ in DEFAULT_TAGS)

# Envoy indexes the extractors whose regex starts with ``^<word>\.`` by that word, and runs them
# after all the others; that order is the order of the tags, and decides which extractor of a name
# shared with another wins.
_INDEXED = re.compile(r"\^[A-Za-z0-9_]+(?:\\\.|\(\?=\\\.\))")


def compile_tag_regex(regex: str) -> re.Pattern:
    """``regex`` compiled; ValueError when it is invalid or has no capture group."""
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise ValueError(f"invalid regex: {exc}") from None
    if not pattern.groups:
        raise ValueError("needs a capture group: the first is removed from the stat name, the "
                         "second (or else the first) is the tag value")
    return pattern


class TagExtractor:
    """Envoy's default extractors (unless ``use_all_default_tags`` is false), then ``stats_tags``
    in order. A tag with neither a regex nor a fixed value stands for Envoy's default extractors
    of its name."""

    def __init__(self, stats_tags: tuple[StatsTag, ...] = (), use_all_default_tags: bool = True):
        defaults = DEFAULT_TAGS if use_all_default_tags else ()
        rules = [(name, regex, None) for name, regex in defaults]
        for tag in stats_tags:
            if tag.fixed_value is not None:
                rules.append((tag.tag_name, None, tag.fixed_value))
            elif tag.regex:
                rules.append((tag.tag_name, tag.regex, None))
            elif tag.tag_name in DEFAULT_TAG_NAMES:
                rules += [(name, regex, None) for name, regex in DEFAULT_TAGS
                          if name == tag.tag_name]
            else:
                raise ValueError(f"tag '{tag.tag_name}' has no regex or fixed_value, and no "
                                 "default extractor has that name")
        rules.sort(key=lambda rule: bool(rule[1] and _INDEXED.match(rule[1])))
        self._rules = [(name, regex and compile_tag_regex(regex), fixed_value)
                       for name, regex, fixed_value in rules]
        self._cache: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}

    @classmethod
    def from_config(cls, stats_config: StatsConfig) -> TagExtractor:
        return cls(stats_config.stats_tags, stats_config.use_all_default_tags)

    def extract(self, name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """``(tag-extracted name, ((tag name, value), ...))``, the tags in Envoy's order."""
        extracted = self._cache.get(name)
        if extracted is None:
            extracted = self._cache[name] = self._extract(name)
        return extracted

    def _extract(self, name):
        tags, removed = {}, []
        for tag_name, pattern, fixed_value in self._rules:
            if tag_name in tags:
                continue
            if pattern is None:
                tags[tag_name] = fixed_value
                continue
            match = pattern.search(name)
            if match is None or match.group(1) is None:
                continue
            value = match.group(2) if pattern.groups > 1 else match.group(1)
            tags[tag_name] = value or ""    # a second group may not take part in the match
            removed.append(match.span(1))
        return _without(name, removed), tuple(tags.items())


def _without(name: str, spans: list) -> str:
    """``name`` less the characters in ``spans``, which may overlap."""
    kept, position = [], 0
    for start, end in sorted(spans):
        kept.append(name[position:start])
        position = max(position, end)
    kept.append(name[position:])
    return "".join(kept)
