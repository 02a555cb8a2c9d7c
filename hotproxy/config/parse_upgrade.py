"""Parsers for ``upgrade_configs``: the connection manager's (which upgrade types it proxies)
and a route's (which it turns on or off for that route). Upgrade types compare case-insensitively,
as Envoy compares them; they are kept lower-case."""
from __future__ import annotations

from .fields import Fields, Node

HCM_UPGRADE_CONFIG = Fields("upgrade_type enabled", unsupported="filters")
ROUTE_UPGRADE_CONFIG = Fields("upgrade_type enabled connect_config")
CONNECT_CONFIG = Fields("", unsupported="proxy_protocol_config allow_post")


def _upgrade_configs(node: Node, fields: Fields) -> tuple | None:
    """(upgrade type, enabled, terminate) triples; a type named twice is refused, as Envoy
    refuses it. ``terminate``: a route's CONNECT with ``connect_config`` ends at the proxy,
    which tunnels the bytes to the cluster."""
    found = []
    seen = set()
    for item in node.items():
        m = item.message(fields)
        if m is None:
            continue
        kind = m.string("upgrade_type", required=True, non_empty=True, http_safe=True)
        if kind is None:
            continue
        kind = kind.lower()
        if kind in seen:
            m.at("upgrade_type").fail(f"duplicate upgrade {kind}")
            continue
        seen.add(kind)
        enabled = m.boolean("enabled")
        terminate = fields is ROUTE_UPGRADE_CONFIG and m.has("connect_config")
        if terminate:
            if kind != "connect":
                m.at("connect_config").fail("connect_config is for upgrade_type CONNECT only")
            m.at("connect_config").message(CONNECT_CONFIG)
        found.append((kind, True if enabled is None else enabled, terminate))
    return tuple(found)


def hcm_upgrade_configs(node: Node) -> tuple | None:
    return _upgrade_configs(node, HCM_UPGRADE_CONFIG)


def route_upgrade_configs(node: Node) -> tuple | None:
    return _upgrade_configs(node, ROUTE_UPGRADE_CONFIG)
