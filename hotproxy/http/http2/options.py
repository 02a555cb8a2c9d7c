"""Http2Options: Envoy 1.40's ``http2_protocol_options`` with its defaults (config.core.v3
Http2ProtocolOptions), plus the header limits of the connection manager and two runtime keys.

The stream limit and the windows are what the Envoy 1.40 binary advertises when they are not
configured (SETTINGS 1024 streams, a 16 MiB stream window, a WINDOW_UPDATE to 24 MiB), not the
2147483647 / 256 MiB the API reference still gives (envoy/http/codec.h OptionsLimits before the
change). The flood limits are codec.h's OptionsLimits."""


class Http2Options:
    """Plain attributes; the defaults are Envoy's. ``max_headers_kb`` / ``max_headers_count`` come
    from the connection manager (``max_request_headers_kb``) or the cluster
    (``common_http_protocol_options.max_headers_count``); the premature-reset pair are Envoy's
    runtime keys ``overload.premature_reset_min_stream_lifetime_seconds`` and
    ``overload.premature_reset_total_stream_count``."""

    def __init__(self, **overrides):
        self.hpack_table_size = 4096
        self.max_concurrent_streams = 1024
        self.initial_stream_window_size = 16 * 1024 * 1024
        self.initial_connection_window_size = 24 * 1024 * 1024
        self.allow_connect = False
        self.max_outbound_frames = 10000
        self.max_outbound_control_frames = 1000
        self.max_consecutive_inbound_frames_with_empty_payload = 1
        self.max_inbound_priority_frames_per_stream = 100
        self.max_inbound_window_update_frames_per_data_frame_sent = 10
        self.override_stream_error_on_invalid_http_message = False
        self.max_headers_kb = 60
        self.max_headers_count = 100
        # connection_keepalive: seconds between PINGs (0: none), to wait for each one's ack,
        # and the jitter as a fraction of the interval
        self.keepalive_interval = 0.0
        self.keepalive_timeout = 0.0
        self.keepalive_jitter = 0.15
        self.premature_reset_min_stream_lifetime_seconds = 1
        self.premature_reset_total_stream_count = 500
        for name, value in overrides.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown HTTP/2 option {name!r}")
            setattr(self, name, value)
