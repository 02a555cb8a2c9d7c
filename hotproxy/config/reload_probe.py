"""A listener's reload probe (hotproxy-specific, docs/reloads.md): the request the arbiter sends
through a new generation's listener before the old generation drains.

It is an opt-in in Envoy-compatible YAML, in the listener's metadata, which Envoy accepts and
ignores::

    metadata:
      filter_metadata:
        hotproxy.reload_probe:
          path: /healthz               # required, starts with "/"
          host: probe.local            # the Host header; default "localhost"
          expected_status: 200         # or {start: 200, end: 300} (end excluded); default 2xx
          timeout: 2s                  # default 5s

Any other ``filter_metadata`` namespace is accepted and not used, as Envoy does.
"""
from __future__ import annotations

from dataclasses import dataclass

from .fields import Fields, Node, describe

NAMESPACE = "hotproxy.reload_probe"
METADATA = Fields("filter_metadata", unsupported="typed_filter_metadata")
PROBE = Fields("path host expected_status timeout")
STATUS_RANGE = Fields("start end")


@dataclass(frozen=True)
class ReloadProbe:
    path: str
    host: str = "localhost"
    status_start: int = 200         # the expected statuses: [status_start, status_end)
    status_end: int = 300
    timeout: float = 5.0

    def accepts(self, status: int) -> bool:
        return self.status_start <= status < self.status_end

    def expected(self) -> str:
        if self.status_end == self.status_start + 1:
            return str(self.status_start)
        return f"{self.status_start}-{self.status_end - 1}"


def listener_metadata(node: Node) -> ReloadProbe | None:
    """A listener's ``metadata``: its reload probe, if it has one."""
    m = node.message(METADATA)
    if m is None or not m.has("filter_metadata"):
        return None
    namespaces = m.at("filter_metadata")
    if not isinstance(namespaces.value, dict):
        return namespaces.fail(f"expected a mapping, got {describe(namespaces.value)}")
    for name, value in namespaces.value.items():
        if not isinstance(value, dict):
            namespaces.child(name, value).fail(f"expected a mapping (a Struct), got {describe(value)}")
    if not isinstance(namespaces.value.get(NAMESPACE), dict):
        return None
    return reload_probe(namespaces.child(NAMESPACE, namespaces.value[NAMESPACE]))


def reload_probe(node: Node) -> ReloadProbe | None:
    m = node.message(PROBE)
    if m is None:
        return None
    path = m.string("path", required=True, http_safe=True)
    if path is not None and not path.startswith("/"):
        m.at("path").fail(f"must start with '/', got {path!r}")
    host = m.string("host", non_empty=True, http_safe=True)
    statuses = _statuses(m.get("expected_status")) if m.has("expected_status") else (200, 300)
    timeout = m.duration("timeout")
    if timeout == 0:
        m.at("timeout").fail("must be greater than 0")
    if path is None or statuses is None:
        return None
    return ReloadProbe(path=path, host=host or "localhost", status_start=statuses[0], status_end=statuses[1],
                       timeout=timeout or 5.0)


def _statuses(node: Node) -> tuple[int, int] | None:
    """A status (200) or a range ({start: 200, end: 300}, end excluded, as Envoy's Int64Range)."""
    if isinstance(node.value, dict):
        m = node.message(STATUS_RANGE)
        start = m.uint32("start", required=True, minimum=100, maximum=599)
        end = m.uint32("end", required=True, minimum=101, maximum=600)
        if start is None or end is None:
            return None
        if end <= start:
            return node.fail(f"end ({end}) must be greater than start ({start})")
        return start, end
    status = node.uint32(minimum=100, maximum=599)
    return None if status is None else (status, status + 1)
