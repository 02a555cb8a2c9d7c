"""One stream's pass through its HTTP filters, in both directions (the contract is in
filters/api.py).

``FilterManager`` is made only for streams that have filters besides the router: a stream
without any keeps ``stream.filters`` None and pays nothing. Each direction is a ``_Pass`` over
the filters in its order, ending in a sink: the router for requests, the connection's response
writer for responses. At most one filter holds a direction at a time (the first that returns
STOP); what reaches it while it holds is buffered there, and released when it continues.
"""
from __future__ import annotations

from .filters.api import CONTINUE, STOP


class FilterManager:
    __slots__ = ("stream", "filters", "decoding", "encoding", "replied_from")

    def __init__(self, stream, filters, decoded, encoded):
        """``filters``: the stream's filter objects in config order; ``decoded`` (headers hook,
        data hook) and ``encoded`` the same for the sinks at the end of each direction."""
        self.stream = stream
        self.filters = filters
        self.decoding = _Pass(stream, [(f.decode_headers, f.decode_data) for f in filters], decoded,
                              _Replied(stream))
        self.encoding = _Pass(stream, [(lambda s, end, f=f: f.encode_headers(s, s.response, end),
                                        f.encode_data) for f in reversed(filters)], encoded,
                              _NEVER_REPLIED)
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


class _Pass:
    """One direction: ``hooks`` are (headers hook, data hook) pairs in the order they run."""

    __slots__ = ("stream", "hooks", "sink", "start", "reached", "held_at", "headers_held", "held",
                 "ended", "replied")

    def __init__(self, stream, hooks, sink, replied):
        self.replied = replied   # whether a hook answered the request: it goes no further
        self.stream = stream
        self.hooks = hooks
        self.sink = sink
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
        for index in range(start, len(self.hooks)):
            self.reached = index
            result = self.hooks[index][0](self.stream, end_stream)
            if self.replied:
                return False
            if result is STOP:
                self.held_at, self.headers_held = index, True
                if end_stream and settle_end:
                    self._data_from(index, b"", True)
                return False
        self.ended = end_stream
        self.sink[0](end_stream)
        return True

    def data(self, data, end_stream):
        self._data_from(self.start, data, end_stream)

    def _data_from(self, start, data, end_stream):
        stream = self.stream
        hooks = self.hooks
        index = start
        while index < len(hooks):
            if self.held_at < 0 or index <= self.held_at:
                result = hooks[index][1](stream, data, end_stream)
                if self.replied:
                    return
                if result is STOP and end_stream:
                    result = CONTINUE   # nothing more will come: what it holds goes on
                if result is STOP:
                    if self.held_at < 0:
                        self.held_at = index
                    if index == self.held_at:
                        self.held.append(data)
                        return
                    result = CONTINUE   # a second holder: one hold at a time, it passes
                if index == self.held_at:
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
                        elif self.held_at >= 0 and not self.replied:
                            index += 1
                            continue
                        else:
                            return
                elif result is not CONTINUE:
                    data = result
            index += 1
        if data or end_stream:
            self.ended = end_stream
            self.sink[1](data, end_stream)



class _Replied:
    """True once a filter answered the stream's request (a local reply ends decoding)."""

    __slots__ = ("stream",)

    def __init__(self, stream):
        self.stream = stream

    def __bool__(self):
        return self.stream.replied


class _NeverReplied:
    """Encoding goes on whatever was replied: the reply itself is what is encoded."""

    def __bool__(self):
        return False


_NEVER_REPLIED = _NeverReplied()
