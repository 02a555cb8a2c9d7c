"""Which filter objects a stream of a route gets, worked out once per route table: each factory's
``typed_per_filter_config`` entry for the table is resolved once (``FilterFactory.for_route``),
not by every stream of every filter (``stream.route_config``).

The connection manager keeps one ``RouteFilters`` per ``per_filter`` table (``chain_for``; the
same one for every route without a table), and run_filters looks it up by the table's id.
"""
from __future__ import annotations

from ..config.parse_http_filters import FilterConfig
from .filter_plan import plan_of

#: past this many filter lists, a RouteFilters' ``lists`` starts over
_MAX_LISTS = 256


class RouteFilters:
    """What the streams of one route table get from each factory."""

    __slots__ = ("table", "factories", "filters", "makers", "single", "plan", "plans", "lists")

    def __init__(self, table, factories, entries):
        """``entries``: (filter, None) for a filter every stream shares, (None, make) for one
        that ``make(stream)`` makes (or leaves out: None)."""
        #: the route's ``per_filter`` table (None: routes without one), checked by identity
        self.table = table
        self.factories = factories
        #: the shared filters, None where a stream's is made
        self.filters = [shared for shared, _ in entries]
        #: (index, make) of the filters made per stream, in config order; empty when all
        #: are shared
        self.makers = tuple((index, make) for index, (_, make) in enumerate(entries)
                            if make is not None)
        #: the one (index, make) when there is exactly one maker (run_filters' short way)
        self.single = self.makers[0] if len(self.makers) == 1 else None
        #: the filters' Plan when all are shared, else None
        self.plan = None if self.makers else plan_of(tuple(map(type, self.filters)))
        #: with makers: the classes of what they made (the made class itself with one maker,
        #: nested pairs with more; NoneType: left out) → (the stream's Plan, whether a maker
        #: left its filter out)
        self.plans = {}
        #: with one maker: id(what it made) → (the stream's filters, their Plan), for what it
        #: makes once for many streams (``shared_by_streams``) or leaves out (None); the list
        #: holds the filter, so its id stays its own
        self.lists = {}

    def list_for(self, made):
        """The filters and Plan of a stream whose one maker made ``made``."""
        index = self.single[0]
        filters = self.filters.copy()
        filters[index] = made
        plan, left_out = self.plans.get(made.__class__) or self.plan_for(made.__class__, filters)
        if left_out:
            del filters[index]
        found = filters, plan
        if made is None or getattr(made, "shared_by_streams", False):
            if len(self.lists) >= _MAX_LISTS:
                self.lists.clear()
            self.lists[id(made)] = found
        return found

    def plan_for(self, key, filters):
        """``plans[key]``, learnt from a stream's ``filters`` (None where left out)."""
        made = [made for made in filters if made is not None]
        found = self.plans[key] = (plan_of(tuple(map(type, made))), len(made) < len(filters))
        return found


def route_filters(factories, route):
    """The RouteFilters of ``factories``, the filters that see ``route``'s streams."""
    table = route.per_filter if route is not None else None
    entries = []
    for factory in factories:
        entry = table.get(factory.name) if table is not None else None
        shared, make = factory.for_route(entry.config if entry.__class__ is FilterConfig else entry)
        if shared is not None or make is not None:
            entries.append((shared, make))
    return RouteFilters(table, factories, tuple(entries))
