"""What happened to one request (HTTP) or connection (TCP): the facts access logs print.

Every HTTP stream holds one (http/stream.py) and the router and filters write to it as things
happen; what only the access logs need is added when the stream is logged. Everything is kept
as it was seen, and formatting happens in ``accesslog.format``.
"""


class StreamInfo:
    """Defaults are class attributes: a stream sets only what happened to it, which keeps making
    one cheap enough for every request."""

    #: wall-clock seconds (time.time()) when the request began
    start_time = 0.0
    #: time.monotonic() at the same instant
    start_monotonic = 0.0
    #: ms from start to the last request byte received (None: never)
    request_complete_ms = None
    #: ms from start to the first upstream response byte (None: never)
    first_upstream_rx_ms = None
    #: ms from start to the last response byte sent (None: never)
    response_complete_ms = None
    #: the x-envoy-upstream-service-time value (None: no upstream)
    upstream_service_time_ms = None
    #: "HTTP/1.1", or None for TCP
    protocol = None
    #: request method (bytes), None for TCP
    method = None
    #: request :path (bytes) as forwarded (rewritten), or None
    path = None
    #: request :scheme (bytes): b"http", or b"https" from a
    #: trusted x-forwarded-proto or an absolute URL; None: TCP
    scheme = None
    #: list of (lower-case name bytes, value bytes) as Envoy
    #: logs them: as the connection manager and router left
    #: them (x-request-id, x-forwarded-*, route mutations,
    #: host rewrite, hop-by-hop headers removed)
    request_headers = ()
    #: list of (name, value) as sent downstream, or None
    response_headers = None
    #: int, 0 when no response was sent
    response_code = 0
    #: Envoy's response-code detail string, e.g. "via_upstream"
    response_code_details = None
    #: Envoy response-flag short codes: a dict in the order raised (flag()), or
    #: a set
    response_flags = ()
    #: request body bytes (HTTP) / bytes from downstream (TCP)
    bytes_received = 0
    #: response body bytes (HTTP) / bytes to downstream (TCP)
    bytes_sent = 0
    #: "ip:port" of the chosen upstream host, or None
    upstream_host = None
    #: cluster name, or None
    upstream_cluster = None
    #: attempts the router made (0: never routed upstream)
    upstream_request_attempt_count = 0
    #: "ip:port" of our side of the upstream connection, or None
    upstream_local_address = None
    #: str or None
    upstream_transport_failure_reason = None
    #: "ip:port" ("[::1]:80") of the client as the connection
    #: manager sees it: with use_remote_address false and an
    #: x-forwarded-for, the trusted address from it with port
    #: 0 ("10.0.0.1:0"); else the peer
    downstream_remote_address = None
    #: "ip:port" of the TCP peer
    downstream_direct_remote_address = None
    #: "ip:port" the client connected to (the destination a listener
    #: filter restored, if one did)
    downstream_local_address = None
    #: "ip:port" of the socket itself when a listener filter restored
    #: another local address, else None (the same)
    downstream_direct_local_address = None
    #: name of the matched route, or None
    route_name = None
    #: always None for now
    virtual_cluster_name = None
    #: per-worker connection counter (int)
    connection_id = 0
    #: str or None
    connection_termination_details = None
    #: listener/tls_transport.py's DownstreamTls, None: plain
    downstream_tls = None
    #: namespace → {key: value} set by filters, or None
    dynamic_metadata = None
    #: name → value set by filters, or None
    filter_state = None

    # No __init__: an HTTP stream makes one per request, and StreamInfo() is then a C call.

    @classmethod
    def started(cls, start_time, start_monotonic):
        info = cls()
        info.start_time = start_time
        info.start_monotonic = start_monotonic
        return info

    def flag(self, code):
        """Raise a response flag: a dict keeps them in the order raised, which is the order
        Envoy 1.40 prints them in (URX,UF)."""
        flags = self.response_flags
        if flags.__class__ is dict:
            flags[code] = None
        else:
            self.response_flags = {**dict.fromkeys(flags), code: None}

    def set_metadata(self, namespace, key, value):
        """Dynamic metadata for later filters, the router and %DYNAMIC_METADATA(namespace:key)%."""
        if self.dynamic_metadata is None:
            self.dynamic_metadata = {}
        self.dynamic_metadata.setdefault(namespace, {})[key] = value

    def metadata(self, namespace):
        """The dynamic metadata of ``namespace``: a dict, empty when none was set."""
        return (self.dynamic_metadata or {}).get(namespace, {})

    def set_filter_state(self, name, value):
        """Filter state for later filters and %FILTER_STATE(name)%."""
        if self.filter_state is None:
            self.filter_state = {}
        self.filter_state[name] = value
