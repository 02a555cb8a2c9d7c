"""What happened to one request (HTTP) or connection (TCP): the facts access logs print.

Filled in on the data path only when the listener has access logs; everything is kept as it was
seen, and formatting happens in ``accesslog.format``.
"""


class StreamInfo:
    __slots__ = (
        "start_time",                   # wall-clock seconds (time.time()) when the request began
        "start_monotonic",              # time.monotonic() at the same instant
        "request_complete_ms",          # ms from start to the last request byte received (None: never)
        "first_upstream_rx_ms",         # ms from start to the first upstream response byte (None: never)
        "response_complete_ms",         # ms from start to the last response byte sent (None: never)
        "upstream_service_time_ms",     # the x-envoy-upstream-service-time value (None: no upstream)
        "protocol",                     # "HTTP/1.1", or None for TCP
        "method",                       # request method (bytes), None for TCP
        "path",                         # request :path (bytes) as forwarded (rewritten), or None
        "scheme",                       # request :scheme (bytes): b"http", or b"https" from a
                                        # trusted x-forwarded-proto or an absolute URL; None: TCP
        "request_headers",              # list of (lower-case name bytes, value bytes) as Envoy
                                        # logs them: as the connection manager and router left
                                        # them (x-request-id, x-forwarded-*, route mutations,
                                        # host rewrite, hop-by-hop headers removed)
        "response_headers",             # list of (name, value) as sent downstream, or None
        "response_code",                # int, 0 when no response was sent
        "response_code_details",        # Envoy's response-code detail string, e.g. "via_upstream"
        "response_flags",               # Envoy response-flag short codes: a dict in the order set, or a set
        "bytes_received",               # request body bytes (HTTP) / bytes from downstream (TCP)
        "bytes_sent",                   # response body bytes (HTTP) / bytes to downstream (TCP)
        "upstream_host",                # "ip:port" of the chosen upstream host, or None
        "upstream_cluster",             # cluster name, or None
        "upstream_request_attempt_count",  # attempts the router made (0: never routed upstream)
        "upstream_local_address",       # "ip:port" of our side of the upstream connection, or None
        "upstream_transport_failure_reason",  # str or None
        "downstream_remote_address",    # "ip:port" ("[::1]:80") of the client as the connection
                                        # manager sees it: with use_remote_address false and an
                                        # x-forwarded-for, the trusted address from it with port
                                        # 0 ("10.0.0.1:0"); else the peer
        "downstream_direct_remote_address",  # "ip:port" of the TCP peer
        "downstream_local_address",     # "ip:port" the client connected to
        "route_name",                   # name of the matched route, or None
        "virtual_cluster_name",         # always None for now
        "connection_id",                # per-worker connection counter (int)
        "connection_termination_details",  # str or None
        "downstream_tls",               # listener/tls_transport.py's DownstreamTls, None: plain
        "dynamic_metadata",             # namespace → {key: value} set by filters, or None
        "filter_state",                 # name → value set by filters, or None
    )

    def __init__(self, start_time, start_monotonic):
        self.start_time = start_time
        self.start_monotonic = start_monotonic
        self.request_complete_ms = None
        self.first_upstream_rx_ms = None
        self.response_complete_ms = None
        self.upstream_service_time_ms = None
        self.protocol = None
        self.method = None
        self.path = None
        self.scheme = None
        self.request_headers = ()
        self.response_headers = None
        self.response_code = 0
        self.response_code_details = None
        self.response_flags = set()
        self.bytes_received = 0
        self.bytes_sent = 0
        self.upstream_host = None
        self.upstream_cluster = None
        self.upstream_request_attempt_count = 0
        self.upstream_local_address = None
        self.upstream_transport_failure_reason = None
        self.downstream_remote_address = None
        self.downstream_direct_remote_address = None
        self.downstream_local_address = None
        self.route_name = None
        self.virtual_cluster_name = None
        self.connection_id = 0
        self.connection_termination_details = None
        self.downstream_tls = None
        self.dynamic_metadata = None
        self.filter_state = None

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
