"""One stream's pass through its HTTP filters, in both directions (the contract is in
filters/api.py).

``FilterManager`` is made only for streams that have filters besides the router: a stream
without any keeps ``stream.filters`` None and pays nothing. Each direction is a ``_Pass`` over
the filters in its order, ending in a sink: the router for requests, the connection's response
writer for responses. At most one filter holds a direction at a time (the first that returns
STOP); what reaches it while it holds is buffered there, and released when it continues. A
head that every filter continues needs no pass: the manager runs those hooks itself. Which
hooks each filter has is worked out once for the chain's filter classes (filter_plan.py).
"""
from __future__ import annotations

from .filter_plan import plan_of
from .filters.api import CONTINUE, STOP
from .http1.heads import trailers_of


class FilterManager:
    __slots__ = ("stream", "filters", "plan", "reached", "_decoding", "_decoded", "_encoding",
                 "_encoded", "replied_from", "body_passes", "ender_at", "router_frames")

    def __init__(self, stream, filters, decoded, encoded):
        """``filters``: the stream's filter objects in config order; ``decoded`` (headers sink,
        data sink) and ``encoded`` the same at the end of each direction: functions called with
        the stream, then ``end_stream`` (headers) or ``data, end_stream``; ``encoded`` may add a
        trailers sink (called with the stream and the trailers)."""
        set_up(self, stream, filters, decoded, encoded, plan_of(tuple(map(type, filters))), False)

    @property
    def decoding(self):
        """The request's pass, made when a filter holds the head or the body flows: a head that
        every filter continues goes to the router from ``decode_headers`` without one."""
        return self._decoding or self._decode_pass()

    def _decode_pass(self):
        decoding = self._decoding = _Decoding()
        decoding.stream = self.stream
        decoding.filters = self.filters
        decoding.hooks = self.plan.hooks
        decoding.sink_headers, decoding.sink_data = self._decoded
        decoding.reached = self.reached
        decoding.ended = False  # a head that ended the request has no body to pass after it
        return decoding

    @property
    def encoding(self):
        """The response's pass. A response that the router frames (``router_frames``) never
        needs one: its head passes the encode_headers hooks in ``encode_headers``."""
        return self._encoding or self._encode_pass()

    def _encode_pass(self):
        encoding = self._encoding = _Encoding()
        encoding.stream = self.stream
        encoding.filters = self.filters[::-1]
        encoding.hooks = self.plan.encode_hooks
        encoded = self._encoded
        if len(encoded) > 2:
            encoding.sink_headers, encoding.sink_data, encoding.sink_trailers = encoded
        else:
            encoding.sink_headers, encoding.sink_data = encoded
        encoding.start = 0
        encoding.ended = False
        return encoding

    def decode_headers(self, end_stream):
        """The request head, from the first filter on: the pass's headers_from written out for
        the usual head, which every filter continues (each stream's first step)."""
        stream = self.stream
        filters = self.filters
        for index, hook in self.plan.header_hooks:
            self.reached = index
            result = hook(filters[index], stream, end_stream)
            if stream.replied:
                return
            if result is STOP:
                self.hold_head(index, end_stream)
                return
        self.reached = len(filters) - 1
        self._decoded[0](stream, end_stream)

    def hold_head(self, index, end_stream):
        """The filter at ``index`` stopped the request head: the decoding pass holds it there."""
        decoding = self._decode_pass()
        decoding.held_at, decoding.headers_held = index, True
        if end_stream:
            decoding.data_from(index, b"", True)

    def decode_data(self, data, end_stream):
        if end_stream and not data and self._decode_trailers():
            return
        self.decoding.data_from(0, data, end_stream)

    def _decode_trailers(self):
        """The request's end, when it ended with trailers its client's codec decoded (HTTP/2
        always; HTTP/1.1 with the connection manager's enable_trailers, as Envoy's codec decodes
        them): they pass each filter's decode_trailers hook in order (edited in place; nothing
        follows them, so STOP continues), then the router, which sends them where the cluster
        enables them (router/trailers.request_end). A filter that holds the body is released
        first, with the end of the stream. False when there are none: the body just ends."""
        stream = self.stream
        head = stream.head
        trailers = trailers_of(head)
        if trailers is None or (head.version != "2"
                                and not stream.connection.hcm.config.enable_trailers):
            return False
        decoding = self.decoding
        if decoding.held_at >= 0:
            decoding.data_from(0, b"", True)
            if stream.replied:
                return True
        filters = self.filters
        hooks = self.plan.hooks
        for index in range(len(hooks)):
            hook = hooks[index][6]
            if hook is not None:
                hook(filters[index], stream, trailers)
                if stream.replied:
                    return True
        if not decoding.ended:
            decoding.ended = True
            decoding.sink_data(stream, b"", True)
        return True

    def encode_headers(self, end_stream, to_sink=True):
        """The response head is ``stream.response``. A local reply sent while decoding passes
        only the filters that saw the request (the one that replied included). Returns whether
        every filter continued; without ``to_sink`` the head then stays with the caller, which
        sends it, or hands it on with ``head_to_sink``."""
        replied_from = self.replied_from
        if replied_from is None:
            decoding = self._decoding
            replied_from = self.replied_from = (self.reached if decoding is None
                                                else decoding.reached)
        # the encoding pass's headers_from, written out for the filters that have the hook
        # (the pass is made only when one holds, or the head sinks): this runs for every
        # filtered response
        stream = self.stream
        filters = self.filters
        response = stream.response
        for index, hook in self.plan.response_hooks:
            if index <= replied_from and hook(filters[index], stream, response,
                                              end_stream) is STOP:
                encoding = self._encode_pass_from(replied_from)
                held_at = len(filters) - 1 - index      # in the encoding order
                encoding.held_at, encoding.headers_held = held_at, True
                if end_stream:
                    encoding.data_from(held_at, b"", True)
                return False
        if to_sink:
            encoding = self._encode_pass_from(replied_from)
            encoding.ended = end_stream
            encoding.sink_headers(stream, end_stream)
        return True

    def _encode_pass_from(self, replied_from):
        """The encoding pass, starting at the last filter that saw the request."""
        encoding = self._encoding or self._encode_pass()
        skip = len(self.filters) - 1 - replied_from
        encoding.start = skip if skip > 0 else 0
        return encoding

    def head_to_sink(self, end_stream):
        """The head that ``encode_headers(end_stream, to_sink=False)`` passed goes to the sink
        after all."""
        encoding = self._encode_pass_from(self.replied_from)
        encoding.ended = end_stream
        encoding.sink_headers(self.stream, end_stream)

    def encode_data(self, data, end_stream):
        encoding = self._encoding or self._encode_pass()
        if self.body_passes and encoding.held_at < 0:
            if data or end_stream:
                encoding.ended = end_stream
                encoding.sink_data(self.stream, data, end_stream)
            return
        encoding.data_from(encoding.start, data, end_stream)

    def encode_trailers(self, trailers):
        """The response ends with ``trailers`` (a header list). Each filter's encode_trailers
        hook may edit them in place, or return bytes: the body's last piece instead of trailers,
        which goes on through the filters after it (gRPC-Web puts trailers in the body so).
        The sink sends them where its codec does (HTTP/2; HTTP/1.1 chunked, with the connection
        manager's enable_trailers: filtered_stream.encode_trailers). Where a filter holds the
        body, the response just ends without them."""
        encoding = self._encoding or self._encode_pass()
        stream = self.stream
        filters, hooks = encoding.filters, encoding.hooks
        for index in range(encoding.start, len(hooks)):
            hook = hooks[index][5]
            if hook is not None:
                result = hook(filters[index], stream, trailers)
                if result is not CONTINUE:
                    encoding.data_from(index + 1, result, True)
                    return
        if encoding.held_at >= 0 or encoding.sink_trailers is None:
            encoding.data_from(encoding.start, b"", True)
            return
        encoding.ended = True
        encoding.sink_trailers(stream, trailers)

    @property
    def encoding_ended(self):
        return self.encoding.ended

    def on_stream_end(self):
        """The filters' on_stream_end hooks; callers may skip the call where ``ender_at`` is
        None (no filter has one)."""
        ender_at = self.ender_at
        if ender_at is not None:
            stream = self.stream
            filters = self.filters
            hooks = self.plan.hooks
            for index in ender_at:
                hooks[index][4](filters[index], stream)


def set_up(manager, stream, filters, decoded, encoded, plan, router_frames):
    """A FilterManager's state: ``plan`` is ``plan_of`` the filters' classes; ``router_frames``
    whether the router frames the response (downstream_head._through_filters), which needs a
    plan whose ``body_passes`` (no filter has a body hook) and HTTP/1.1's sinks. run_filters
    calls it on a manager made without ``__init__``, with the plan it already has."""
    manager.stream = stream
    manager.filters = filters
    manager.plan = plan
    manager.reached = -1
    manager._decoding = manager._encoding = manager.replied_from = None
    manager._decoded = decoded
    manager._encoded = encoded
    #: no filter has an encode_data or encode_trailers hook: the response body goes straight
    #: to the sink unless a filter holds the response head
    manager.body_passes = plan.body_passes
    #: the indexes of the filters with an on_stream_end hook, None when no filter has one
    manager.ender_at = plan.ender_at
    #: the response body needs no filter: its head, once through the encode_headers hooks,
    #: may be framed and sent by whoever made it, as a stream without filters has it
    #: (router/downstream_head.py)
    manager.router_frames = router_frames


class _Pass:
    """One direction: the filters in the order they run, each with its hooks (filter_plan.py);
    ``headers_hook`` and ``data_hook`` index this direction's. While decoding, a hook may answer
    the request (``stream.replied``): the request then goes no further. While encoding, the
    reply itself is what passes."""

    __slots__ = ("stream", "filters", "hooks", "sink_headers", "sink_data",
                 "start",       # the first filter this pass runs (a local reply skips some)
                 "reached",     # the last filter whose headers hook ran
                 "ended",       # the sink has the end of the stream
                 "__dict__")
    # only a pass that a filter stops sets these: class attributes until then
    held_at = -1        # the filter holding this direction, -1: none
    headers_held = False
    held = ()           # data pieces held at ``held_at`` (a list once there are some)
    sink_trailers = None    # set where the sink takes trailers

    def headers_from(self, start, end_stream, settle_end=True):
        """The head goes on from filter ``start``; False when a filter stopped it (or replied)
        before the sink. With ``settle_end``, a filter that stops a head that ends the stream
        decides on that end at once, nothing more being to come."""
        stream = self.stream
        filters = self.filters
        hooks = self.hooks
        which = self.headers_hook
        decoding = self.decoding
        for index in range(start, len(hooks)):
            self.reached = index
            hook = hooks[index][which]
            if hook is None:
                continue
            if decoding:
                result = hook(filters[index], stream, end_stream)
                if stream.replied:
                    return False
            else:
                result = hook(filters[index], stream, stream.response, end_stream)
            if result is STOP:
                self.held_at, self.headers_held = index, True
                if end_stream and settle_end:
                    self.data_from(index, b"", True)
                return False
        self.ended = end_stream
        self.sink_headers(stream, end_stream)
        return True

    def data_from(self, start, data, end_stream):
        stream = self.stream
        filters = self.filters
        hooks = self.hooks
        which = self.data_hook
        decoding = self.decoding
        index = start
        while index < len(hooks):
            held_at = self.held_at
            hook = hooks[index][which]
            if held_at >= 0 and index > held_at:
                index += 1
                continue
            if hook is not None:
                result = hook(filters[index], stream, data, end_stream)
            elif index == held_at:
                result = CONTINUE   # a holder without a data hook continues at the first piece
            else:
                index += 1
                continue
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
                    if self.held:
                        self.held.append(data)
                    else:
                        self.held = [data]
                    return
                result = CONTINUE   # a second holder: one hold at a time, it passes
            if index == held_at:
                if result is CONTINUE and self.held:
                    data = b"".join((*self.held, data))
                elif result is not CONTINUE:
                    data = result
                self.held = ()
                self.held_at = -1
                if self.headers_held:
                    self.headers_held = False
                    ends_with_headers = end_stream and not data
                    if self.headers_from(index + 1, ends_with_headers, settle_end=False):
                        if ends_with_headers:
                            return      # the sink has the end already
                    elif self.held_at < 0 or (decoding and stream.replied):
                        return
            elif result is not CONTINUE:
                data = result
            index += 1
        if data or end_stream:
            self.ended = end_stream
            self.sink_data(stream, data, end_stream)


class _Decoding(_Pass):
    __slots__ = ()
    headers_hook, data_hook = 0, 1
    decoding = True


class _Encoding(_Pass):
    __slots__ = ()
    headers_hook, data_hook = 2, 3
    decoding = False
