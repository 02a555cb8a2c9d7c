"""Parser for a connection manager's ``request_id_extension`` (RequestIDExtension): Envoy's
UUID extension, the only one, whose two options both default to true. Those defaults are how
hotproxy makes and reads x-request-id (http/request_id.py: the trace decision packed in the
UUID, sampling drawn on the id's value), so the extension is taken with them, and a false,
which would change both, is refused by name."""
from __future__ import annotations

from .fields import NOT_SUPPORTED, Fields, Node, typed_config

UUID_TYPE = "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig"
REQUEST_ID_EXTENSION = Fields("typed_config")
UUID_REQUEST_ID_CONFIG = Fields("pack_trace_reason use_request_id_for_trace_sampling")


def request_id_extension(node: Node) -> bool | None:
    """True once read (what it says is hotproxy's only behaviour); None on a problem."""
    m = node.message(REQUEST_ID_EXTENSION)
    if m is None:
        return None
    return m.nested("typed_config", lambda n: typed_config(n, {UUID_TYPE: _uuid}), required=True)


def _uuid(node: Node) -> bool | None:
    m = node.message(UUID_REQUEST_ID_CONFIG)
    if m is None:
        return None
    for name in ("pack_trace_reason", "use_request_id_for_trace_sampling"):
        if m.boolean(name) is False:
            m.at(name).fail(f"false is {NOT_SUPPORTED} (hotproxy always packs the trace "
                            "decision in the UUID and samples on it)")
    return True
