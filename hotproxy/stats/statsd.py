"""Envoy's statsd wire format (source/extensions/stat_sinks/common/statsd), sans-IO.

- statsd: ``<prefix>.<full stat name>:<value>|<type>``; counters send the delta since the last
  flush (``|c``), gauges their level (``|g``), histograms every recorded value as whole
  milliseconds (``|ms``). Only stats that were ever used are sent, as Envoy sends them.
- DogStatsD: the tag-extracted name, and the tags after the type:
  ``envoy.cluster.upstream_rq_xx:3|c|#envoy.cluster_name:backend,envoy.response_code_class:2``.
  Envoy's default tags are named ``envoy.<tag>`` there (``envoy_<tag>`` in Prometheus).

Over UDP, lines go one a datagram, or with ``max_bytes_per_datagram`` as many as fit, joined by
newlines, the counters and gauges of a flush packed together and each histogram value in a
datagram of its own (as Envoy writes them). Over TCP every line ends in a newline.
"""
from __future__ import annotations

from .tags import DEFAULT_TAG_NAMES, TagExtractor


class StatsdFormat:
    def __init__(self, prefix: str = "envoy", extractor: TagExtractor | None = None):
        """``extractor``: DogStatsD's tags; None for plain statsd (full names, no tags)."""
        self.prefix = prefix
        self.extractor = extractor

    def line(self, name: str, value, kind: str) -> str:
        if self.extractor is None:
            return f"{self.prefix}.{name}:{value}|{kind}"
        extracted, tags = self.extractor.extract(name)
        tag_text = "|#" + ",".join(f"{_dog_tag_name(tag)}:{tag_value}" for tag, tag_value in tags) \
            if tags else ""
        return f"{self.prefix}.{extracted}:{value}|{kind}{tag_text}"

    def flush_lines(self, counter_deltas: dict, gauges: dict) -> list[str]:
        """The lines of one flush: ``counter_deltas`` then ``gauges``, each ``{name: value}``."""
        lines = [self.line(name, delta, "c") for name, delta in counter_deltas.items()]
        lines += [self.line(name, level, "g") for name, level in gauges.items()]
        return lines

    def histogram_lines(self, samples: dict) -> list[str]:
        """One ``|ms`` line per recorded value, in whole milliseconds as Envoy sends them."""
        return [self.line(name, int(value), "ms")
                for name, values in samples.items() for value in values]


def _dog_tag_name(tag: str) -> str:
    return "envoy." + tag[len("envoy_"):] if tag in DEFAULT_TAG_NAMES and tag.startswith("envoy_") \
        else tag


def pack_datagrams(lines: list[str], max_bytes: int | None) -> list[bytes]:
    """Envoy's UDP buffering: without ``max_bytes`` a datagram per line; with it, lines joined
    by newlines while they fit, and a line that alone reaches ``max_bytes`` in its own."""
    if not max_bytes:
        return [line.encode() for line in lines]
    datagrams, buffer = [], []
    size = 0
    for line in lines:
        encoded = line.encode()
        if len(encoded) >= max_bytes:
            datagrams.append(encoded)
            continue
        if buffer and size + len(encoded) + 1 > max_bytes:
            datagrams.append(b"\n".join(buffer))
            buffer, size = [], 0
        size += len(encoded) + (1 if buffer else 0)
        buffer.append(encoded)
    if buffer:
        datagrams.append(b"\n".join(buffer))
    return datagrams


def tcp_payload(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


class CounterDeltas:
    """What a sink sends for counters: the change since its previous flush, for every counter
    that was ever used. A counter reset (/reset_counters) restarts from its new value."""

    def __init__(self):
        self._sent = {}

    def take(self, counters: dict, used) -> dict:
        deltas = {}
        for name, value in counters.items():
            if name not in used:
                continue
            previous = self._sent.get(name, 0)
            deltas[name] = value - previous if value >= previous else value
            self._sent[name] = value
        return deltas
