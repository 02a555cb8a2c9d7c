"""What the HTTP/2 codecs return from ``receive``: one small class per event, ``__slots__`` only.

Header lists are ``[(name, value), ...]`` of bytes, names lower case, pseudo-headers first.
``flow_length`` on data events is what the owner hands back to ``acknowledge`` once it has
consumed the data (it counts padding, so it may exceed ``len(data)``).
"""


class Event:
    __slots__ = ()

    def __repr__(self):
        names = [name for cls in type(self).__mro__[::-1] for name in getattr(cls, "__slots__", ())]
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"


class RequestHeaders(Event):
    __slots__ = ("stream_id", "headers", "end_stream")

    def __init__(self, stream_id, headers, end_stream):
        self.stream_id, self.headers, self.end_stream = stream_id, headers, end_stream


class RequestData(Event):
    __slots__ = ("stream_id", "data", "end_stream", "flow_length")

    def __init__(self, stream_id, data, end_stream, flow_length):
        self.stream_id, self.data, self.end_stream, self.flow_length = (
            stream_id, data, end_stream, flow_length)


class RequestTrailers(Event):
    __slots__ = ("stream_id", "headers")

    def __init__(self, stream_id, headers):
        self.stream_id, self.headers = stream_id, headers


class InformationalHeaders(Event):
    """A 1xx response (100 Continue, 103 Early Hints); the final response follows."""
    __slots__ = ("stream_id", "status", "headers")

    def __init__(self, stream_id, status, headers):
        self.stream_id, self.status, self.headers = stream_id, status, headers


class ResponseHeaders(Event):
    """``status`` is an int; ``headers`` holds the regular headers only (no ``:status``)."""
    __slots__ = ("stream_id", "status", "headers", "end_stream")

    def __init__(self, stream_id, status, headers, end_stream):
        self.stream_id, self.status, self.headers, self.end_stream = (
            stream_id, status, headers, end_stream)


class ResponseData(RequestData):
    __slots__ = ()


class ResponseTrailers(RequestTrailers):
    __slots__ = ()


class StreamReset(Event):
    """The peer reset the stream (RST_STREAM), or refused it by a GOAWAY below its id."""
    __slots__ = ("stream_id", "error_code")

    def __init__(self, stream_id, error_code):
        self.stream_id, self.error_code = stream_id, error_code


class StreamError(Event):
    """The codec reset the stream (malformed message, headers over the limits, refused): the
    owner drops the stream if it knows it; ``reason`` is Envoy's response-code detail style."""
    __slots__ = ("stream_id", "reason")

    def __init__(self, stream_id, reason):
        self.stream_id, self.reason = stream_id, reason


class ConnectionError(Event):
    """The connection is over: flush ``data_to_send()`` and close. ``error_code`` is the GOAWAY's
    the codec queued, or None where Envoy closes without one (a malformed request without the
    stream-error override, a flood). Nothing after it in the same list; later ``receive`` calls
    return nothing."""
    __slots__ = ("reason", "error_code")

    def __init__(self, reason, error_code):
        self.reason, self.error_code = reason, error_code


class PrematureResetsExceeded(Event):
    """Envoy's rapid-reset (CVE-2023-44487) rule tripped: abort the connection without flushing
    and count ``http.<prefix>.downstream_rq_too_many_premature_resets``, as Envoy does."""
    __slots__ = ()


class WindowOpened(Event):
    """More send window: ``stream_id`` 0 means the connection's (every stream may retry)."""
    __slots__ = ("stream_id",)

    def __init__(self, stream_id):
        self.stream_id = stream_id


class GoAwayReceived(Event):
    """Streams above ``last_stream_id`` were not processed by the peer (each also gets a
    ``StreamReset`` with REFUSED_STREAM on the client side); open no new stream."""
    __slots__ = ("last_stream_id", "error_code")

    def __init__(self, last_stream_id, error_code):
        self.last_stream_id, self.error_code = last_stream_id, error_code


class PingAck(Event):
    __slots__ = ("opaque_data",)

    def __init__(self, opaque_data):
        self.opaque_data = opaque_data


class SettingsAcked(Event):
    __slots__ = ()
