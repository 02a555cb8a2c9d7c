"""One stream's pass through its HTTP filters, in both directions (the contract is in
filters/api.py).

``FilterManager`` is made only for streams that have filters besides the router: a stream
without any keeps ``stream.filters`` None and pays nothing. Each direction is a ``_Pass`` over
the filters in its order, ending in a sink: the router for requests, the connection's response
writer for responses. At most one filter holds a direction at a time (the first that returns
STOP); what reaches it while it holds is buffered there, and released when it continues.
"""
from __future__ import annotations

from .filters.api import CONTINUE, STOP, HttpFilter


class FilterManager:
    __slots__ = ("stream", "filters", "decoding", "encoding", "replied_from")

    def __init__(self, stream, filters, decoded, encoded):
        """``filters``: the stream's filter objects in config order; ``decoded`` (headers sink,
        data sink) and ``encoded`` the same at the end of each direction."""
        self.stream = stream
        self.filters = filters
        self.decoding = _Pass(stream, _hooks(filters, "decode_headers"),
                              _hooks(filters, "decode_data"), decoded, True)
        backwards = filters[::-1]
        self.encoding = _Pass(stream, _hooks(backwards, "encode_headers"),
                              _hooks(backwards, "encode_data"), encoded, False)
        self.replied_from = None

    def decode_headers(self, end_stream):
        self.decoding.headers(end_stream)

    def decode_data(self, data, end_stream):
        self.decoding.data(data, end_stream)

    def encode_headers(self, end_stream):
        """The response head is ``stream.response``. A local reply sent while decoding passes
        only the filters that saw the request (the one that replied included)."""
        encoding = self.encoding
        if self.replied_from is None:
            self.replied_from = self.decoding.reached
        skip = len(self.filters) - 1 - self.replied_from
        encoding.start = max(skip, 0)
        encoding.headers(end_stream)

    def encode_data(self, data, end_stream):
        self.encoding.data(data, end_stream)

    @property
    def encoding_ended(self):
        return self.encoding.ended

    def on_stream_end(self):
        for filter_ in self.filters:
            filter_.on_stream_end(self.stream)


def _hooks(filters, name):
    """Each filter's hook ``name``, None where the filter keeps HttpFilter's (it continues): a
    call saved per filter and piece."""
    inherited = getattr(HttpFilter, name)
    return [None if getattr(type(f), name, None) is inherited else getattr(f, name)
            for f in filters]


class _Pass:
    """One direction: ``header_hooks`` and ``data_hooks`` in the order they run. While decoding,
    a hook may answer the request (``stream.replied``): the request then goes no further.
    While encoding, the reply itself is what passes."""

    __slots__ = ("stream", "header_hooks", "data_hooks", "sink_headers", "sink_data", "decoding",
                 "start", "reached", "held_at", "headers_held", "held", "ended")

    def __init__(self, stream, header_hooks, data_hooks, sink, decoding):
        self.stream = stream
        self.header_hooks = header_hooks
        self.data_hooks = data_hooks
        self.sink_headers, self.sink_data = sink
        self.decoding = decoding
        self.start = 0
        self.reached = -1        # the last filter whose headers hook ran
        self.held_at = -1        # the filter holding this direction, -1: none
        self.headers_held = False
        self.held = []           # data pieces held at ``held_at``
        self.ended = False       # the sink has the end of the stream

    def headers(self, end_stream):
        self._headers_from(self.start, end_stream)

    def _headers_from(self, start, end_stream, settle_end=True):
        """The head goes on from filter ``start``; False when a filter stopped it (or replied)
        before the sink. With ``settle_end``, a filter that stops a head that ends the stream
        decides on that end at once, nothing more being to come."""
        stream = self.stream
        hooks = self.header_hooks
        decoding = self.decoding
        for index in range(start, len(hooks)):
            self.reached = index
            hook = hooks[index]
            if hook is None:
                continue
            if decoding:
                result = hook(stream, end_stream)
                if stream.replied:
                    return False
            else:
                result = hook(stream, stream.response, end_stream)
            if result is STOP:
                self.held_at, self.headers_held = index, True
                if end_stream and settle_end:
                    self._data_from(index, b"", True)
                return False
        self.ended = end_stream
        self.sink_headers(end_stream)
        return True

    def data(self, data, end_stream):
        self._data_from(self.start, data, end_stream)

    def _data_from(self, start, data, end_stream):
        stream = self.stream
        hooks = self.data_hooks
        decoding = self.decoding
        index = start
        while index < len(hooks):
            held_at = self.held_at
            hook = hooks[index]
            if hook is None or (held_at >= 0 and index > held_at):
                index += 1
                continue
            result = hook(stream, data, end_stream)
            if decoding and stream.replied:
                return
            if result is CONTINUE and held_at < 0:
                index += 1      # the common case: nothing held, nothing changed
                continue
            if result is STOP and end_stream:
                result = CONTINUE   # nothing more will come: what it holds goes on
            if result is STOP:
                if held_at < 0:
                    self.held_at = held_at = index
                if index == held_at:
                    self.held.append(data)
                    return
                result = CONTINUE   # a second holder: one hold at a time, it passes
            if index == held_at:
                if result is CONTINUE and self.held:
                    self.held.append(data)
                    data = b"".join(self.held)
                elif result is not CONTINUE:
                    data = result
                self.held = []
                self.held_at = -1
                if self.headers_held:
                    self.headers_held = False
                    ends_with_headers = end_stream and not data
                    if self._headers_from(index + 1, ends_with_headers, settle_end=False):
                        if ends_with_headers:
                            return      # the sink has the end already
                    elif self.held_at < 0 or (decoding and stream.replied):
                        return
            elif result is not CONTINUE:
                data = result
            index += 1
        if data or end_stream:
            self.ended = end_stream
            self.sink_data(data, end_stream)
