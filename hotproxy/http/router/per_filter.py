"""``typed_per_filter_config`` as a route hands it to filters: the most specific entry for a
filter's name, a weighted cluster's over its route's over its virtual host's (Envoy's order)."""
from __future__ import annotations


def merged(*levels):
    """filter name → entry, later levels (more specific) winning; None when all are empty."""
    table = {}
    for level in levels:
        if level:
            table.update(level)
    return table or None


def route_level(vhost, route):
    return merged(getattr(vhost, "typed_per_filter_config", ()), route.typed_per_filter_config)
