"""ActiveStream: the state of one request/response exchange on a downstream connection."""
from ..config.parse_http_filters import FilterConfig
from ..stream_info import StreamInfo


class ActiveStream:
    __slots__ = (
        "head",             # RequestHead as decoded
        "start",            # monotonic time the request head was complete
        "route",            # compiled route (None for local replies before routing)
        "cluster",          # upstream Cluster
        "weighted",         # chosen weighted-cluster entry, for its header mutations
        "upstream",         # UpstreamConnection while one is held
        "request_bytes",    # encoded upstream request head, kept to retry a stale connection
        "out",              # bytes waiting to be sent upstream
        "buffered",         # bytes read from one peer that a send to the other holds (overload)
        "head_sent",        # the request head already left for the upstream
        "body_sent",        # some request body already left for the upstream
        "chunked",          # the request body is chunk-framed
        "responded",        # a response (local or upstream) has started downstream
        "body_done",        # the whole request has been received
        "pending_reply",    # (status, body, flag, leading headers) to answer once the body is read
        "close",            # close the downstream connection after this exchange
        "health_check_failed",  # say x-envoy-immediate-health-check-fail in the response
        "set_cookies",      # Set-Cookie values a hash policy made up: unset unless it did
        "info",             # its StreamInfo: status, flags, bytes, addresses, metadata
        "logged",           # the access logs have it
        # set only for a stream with HTTP filters besides the router (http/filter_chain.py):
        "filters",          # its FilterManager, None for a stream of the router alone
        "connection",       # the downstream connection, as filters see it
        "response",         # filters/api.py Response while the response head is encoded
        "replied",          # a filter answered the request itself
        "route_cleared",    # a filter cleared the route: it is matched again before the router
        "target",           # the request target after normalization, as routes match it
        "decoded",          # the whole request reached the router through the filters
        "framing",          # how filtered_response.py frames the response body
        "head_bytes",       # the response head it has yet to send, or None
    )

    def __init__(self, head, start):
        self.head = head
        self.start = start
        self.route = None
        self.cluster = None
        self.weighted = None
        self.upstream = None
        self.request_bytes = b""
        self.out = []
        self.buffered = 0
        self.head_sent = False
        self.body_sent = False
        self.chunked = head.chunked
        self.responded = False
        self.body_done = False
        self.pending_reply = None
        self.close = not head.keep_alive
        self.health_check_failed = False
        self.info = StreamInfo()
        self.logged = False
        self.filters = None     # the slots after it are set only when filters are

    # the view filters have of the stream (http/filters/api.py)

    def route_config(self, name):
        """The most specific typed_per_filter_config for the filter ``name``, or None."""
        route = self.route
        if route is None:
            return None
        weighted = self.weighted
        table = weighted.per_filter if weighted is not None else route.per_filter
        entry = table.get(name) if table is not None else None
        return entry.config if entry.__class__ is FilterConfig else entry

    def clear_route_cache(self):
        self.route_cleared = True

    def send_local_reply(self, status, body=b"", headers=(), details=None, flag=None):
        """A filter answers the request (filters/api.py)."""
        from .filters.api import STOP
        self.replied = True
        if details is not None:
            self.info.response_code_details = details
        self.connection.local_reply(self, status, body, extra=list(headers), flag=flag)
        return STOP

    def flag(self, code):
        """Raise a response flag (StreamInfo.flag)."""
        self.info.flag(code)

    def add_set_cookie(self, value):
        """Only routes whose hash policy can make a cookie up read it (``cookies``): the slot
        is left unset otherwise, which costs other requests nothing."""
        cookies = self.cookies()
        if cookies is None:
            self.set_cookies = cookies = []
        cookies.append(value)

    def cookies(self):
        return getattr(self, "set_cookies", None)


#: filters read the request head as ``stream.request``: the ``head`` slot under a second name
ActiveStream.request = ActiveStream.head
