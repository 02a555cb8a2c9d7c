"""Counters whose names are known only at run time (``ssl.ciphers.<cipher>``,
``ssl.versions.<version>``), with the interface of a declared stat set (stats/schema.py) so that
the shipper reads them alike: ``counters`` lists the names, the values are attributes."""
from __future__ import annotations


class CounterMap:
    gauges = ()
    shared_gauges = ()

    def __init__(self):
        self._values = {}
        self.shipped = {}

    @property
    def counters(self):
        return tuple(self._values)

    def add(self, name: str, amount: int = 1) -> None:
        self._values[name] = self._values.get(name, 0) + amount

    def __getattr__(self, name):
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None


class CodeCounts(dict):
    """``upstream_rq_<code>``: counts by response status, with the interface of a declared stat
    set for the shipper. A response counts with ``counts[status] += 1`` (a missing code is 0),
    cheaper on the request path than a method call and a name per code."""
    gauges = ()
    shared_gauges = ()

    def __init__(self):
        super().__init__()
        self.shipped = {}

    def __missing__(self, code):
        return 0

    @property
    def counters(self):
        return tuple(f"upstream_rq_{code}" for code in self)

    def __getattr__(self, name):
        try:
            return self[int(name.removeprefix("upstream_rq_"))]
        except ValueError:
            raise AttributeError(name) from None
