"""Which filter objects a stream of a route gets, worked out once per route table: each factory's
``typed_per_filter_config`` entry for the table is resolved once (``FilterFactory.for_route``),
not by every stream of every filter (``stream.route_config``).

The connection manager's ``filters_for(route)`` gives the factories that see a route's streams,
one tuple per ``per_filter`` table (the same tuple for every route without one): that tuple is
the key here.
"""
from __future__ import annotations

from ..config.parse_http_filters import FilterConfig
from .filter_chain import plan_of

#: id(factories tuple) → its RouteFilters (which holds the tuple, so the id stays its own);
#: run_filters looks it up itself, then checks ``factories``
BY_FACTORIES = {}
#: past this many, the cache starts over (route tables that RDS replaced leave theirs behind)
_MAX_TABLES = 256


class RouteFilters:
    """What the streams of one route table get from each factory."""

    __slots__ = ("factories", "filters", "makers", "plan", "plans")

    def __init__(self, factories, entries):
        """``entries``: (filter, None) for a filter every stream shares, (None, make) for one
        that ``make(stream)`` makes (or leaves out: None)."""
        self.factories = factories
        #: the shared filters, None where a stream's is made
        self.filters = [shared for shared, _ in entries]
        #: (index, make) of the filters made per stream, in config order; empty when all
        #: are shared
        self.makers = tuple((index, make) for index, (_, make) in enumerate(entries)
                            if make is not None)
        #: the filters' Plan when all are shared, else None
        self.plan = None if self.makers else plan_of(tuple(map(type, self.filters)))
        #: with makers: the classes of what they made, as nested pairs (run_filters) → (the
        #: stream's Plan, whether a maker left its filter out)
        self.plans = {}

    def plan_for(self, key, filters):
        """``plans[key]``, learnt from a stream's ``filters`` (None where left out)."""
        made = [made for made in filters if made is not None]
        found = self.plans[key] = (plan_of(tuple(map(type, made))), len(made) < len(filters))
        return found


def route_filters(factories, route):
    """The RouteFilters of ``factories`` (``filters_for(route)``), learnt on first use."""
    table = route.per_filter if route is not None else None
    entries = []
    for factory in factories:
        entry = table.get(factory.name) if table is not None else None
        shared, make = factory.for_route(entry.config if entry.__class__ is FilterConfig else entry)
        if shared is not None or make is not None:
            entries.append((shared, make))
    if len(BY_FACTORIES) >= _MAX_TABLES:
        BY_FACTORIES.clear()
    found = BY_FACTORIES[id(factories)] = RouteFilters(factories, tuple(entries))
    return found
