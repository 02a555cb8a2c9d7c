"""hotproxy's Python filter (hotproxy.filters.python.v1.Python): the operator's own class as an
HTTP filter (docs/python-filters.md).

The class is loaded and constructed once per connection manager in each worker,
``cls(config_map)``. Each stream gets its own filter object: what ``new_stream(stream)`` returns
when the class defines it (None stays out of the stream), else a shallow copy of that instance,
so attributes set in a hook belong to the stream while what ``__init__`` built is shared. The
hooks are api.HttpFilter's; a hook the object lacks continues, and one returning None continues.

An exception out of a hook is the operator's bug, never the worker's end: it is logged with its
traceback, counted in ``http.<stat_prefix>.python.<filter name>.errors``, and answered with a 500
local reply flagged ``UPE``. When this filter has already passed the response head on, a reply
can no longer be sent: ResponseAborted goes on to the chain, which resets the stream (the
connection closes); counted in ``.resets`` too.
"""
from __future__ import annotations

import copy
import logging

from ...stats.schema import stat_set
from .api import CONTINUE, FilterFactory, HttpFilter
from .python_loader import construct, load

log = logging.getLogger("hotproxy.filters.python")

PythonFilterStats = stat_set("PythonFilterStats", ("errors", "resets"))

ERROR_STATUS = 500
ERROR_BODY = b"python filter error"
ERROR_DETAILS = "python_filter_exception"
ERROR_FLAG = "UPE"
# what operator code may raise; GreenletExit (the stream being torn down) goes on up
_CAUGHT = (Exception, SystemExit)


def factory(config, context):
    """Raises python_loader.LoadError when the module no longer loads (it did when the config was
    validated, but the file changed since)."""
    return PythonFilterFactory(config, context)


class PythonFilterFactory(FilterFactory):
    def __init__(self, config, context):
        self.config = config
        self.stats = PythonFilterStats()
        self._stat_prefix = context.stat_prefix
        self._label = f"{config.class_name} of {config.source}"
        self.instance = construct(load(config), config)
        self._new_stream = getattr(self.instance, "new_stream", None)
        self._copy = _copier(self.instance)
        self.name = ""

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        # The chain names the factory after http_filters[].name; the instance reads its
        # per-route config with stream.route_config(self.filter_name).
        self._name = value
        try:
            self.instance.filter_name = value
        except AttributeError:     # __slots__ without filter_name
            pass

    def create(self, stream):
        try:
            user = self._copy(self.instance) if self._new_stream is None else self._new_stream(stream)
        except _CAUGHT:
            self.record("new_stream" if self._new_stream else "copy", False)
            return _ErrorReply(self)
        return None if user is None else PythonStreamFilter(user, self)

    def stat_sets(self):
        return ((f"{self._stat_prefix}python.{self._name}.", self.stats),)

    def record(self, hook, response_started):
        """Log and count the exception being handled."""
        log.exception("python filter %s (%s): %s raised", self._name, self._label, hook)
        self.stats.errors += 1
        if response_started:
            self.stats.resets += 1


def _copier(instance):
    """A shallow copy of ``instance``: for a plain class, a new object with a copy of its
    ``__dict__`` (a tenth of copy.copy's cost); otherwise copy.copy, honouring __copy__,
    __slots__ and a custom __new__."""
    cls = type(instance)
    plain = (cls.__new__ is object.__new__ and not hasattr(cls, "__copy__")
             and type(getattr(instance, "__dict__", None)) is dict
             and not any("__slots__" in vars(base) for base in cls.__mro__[:-1]))
    if not plain:
        return copy.copy

    def fresh(original):
        twin = object.__new__(cls)
        twin.__dict__.update(original.__dict__)
        return twin
    return fresh


class ResponseAborted(Exception):
    """Raised on to the chain when the response head has already left this filter: too late for
    a 500, the chain ends the stream (the connection closes)."""


def error_reply(stream):
    """The 500 local reply for an exception."""
    return stream.send_local_reply(ERROR_STATUS, ERROR_BODY, details=ERROR_DETAILS, flag=ERROR_FLAG)


class PythonStreamFilter:
    """One stream's operator object behind the api.HttpFilter hooks, each guarded."""

    __slots__ = ("user", "factory", "response_started", "answered")

    def __init__(self, user, factory):
        self.user = user
        self.factory = factory
        self.response_started = False   # the response head went on past this filter
        self.answered = False           # an exception was answered: the rest is not the user's

    def decode_headers(self, stream, end_stream):
        return self._call("decode_headers", stream, end_stream)

    def decode_data(self, stream, data, end_stream):
        return self._call("decode_data", stream, data, end_stream)

    def decode_trailers(self, stream, trailers):
        return self._call("decode_trailers", stream, trailers)

    def encode_headers(self, stream, response, end_stream):
        return self._passed(self._call("encode_headers", stream, response, end_stream))

    def encode_data(self, stream, data, end_stream):
        return self._passed(self._call("encode_data", stream, data, end_stream))

    def encode_trailers(self, stream, trailers):
        return self._call("encode_trailers", stream, trailers)

    def on_stream_end(self, stream):
        hook = getattr(self.user, "on_stream_end", None)
        if hook is None:
            return
        try:
            hook(stream)
        except _CAUGHT:
            self.factory.record("on_stream_end", False)

    def _passed(self, result):
        if result is CONTINUE or isinstance(result, (bytes, bytearray, memoryview)):
            self.response_started = True
        return result

    def _call(self, name, stream, *args):
        if self.answered:       # the error reply passing back through: not the user's business
            return CONTINUE
        hook = getattr(self.user, name, None)
        if hook is None:
            return CONTINUE
        try:
            result = hook(stream, *args)
        except _CAUGHT:
            self.answered = True
            self.factory.record(name, self.response_started)
            if self.response_started:
                raise ResponseAborted(f"python filter {self.factory.name}: {name} failed after the "
                                      "response started") from None
            return error_reply(stream)
        return CONTINUE if result is None else result


class _ErrorReply(HttpFilter):
    """The filter of a stream whose ``new_stream`` raised (logged and counted then): it answers
    the 500 at once and lets everything else pass."""

    __slots__ = ("factory",)

    def __init__(self, factory):
        self.factory = factory

    def decode_headers(self, stream, end_stream):
        return error_reply(stream)
