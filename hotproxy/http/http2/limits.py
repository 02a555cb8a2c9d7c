"""HTTP/2 abuse limits, counted as Envoy counts them (source/common/http/http2/
protocol_constraints.cc and conn_manager_impl.cc), and the ``http2.*`` codec stats.

Each check returns a reason (a string) when the peer went over a limit, else None; the codec then
closes the connection without a GOAWAY, as Envoy 1.40 does, and reports a ``ConnectionError``.
"""

from ...stats.schema import stat_set

# Frame type numbers (RFC 9113 §6): the limits look at hyperframe frames by number, so they work
# with whichever library's copy of hyperframe parsed them.
DATA, HEADERS, PRIORITY, WINDOW_UPDATE, CONTINUATION = 0x0, 0x1, 0x2, 0x8, 0x9

STAT_COUNTERS = (
    "cookies_total_bytes_too_large", "dropped_headers_with_underscores", "goaway_sent",
    "header_list_size_too_large", "header_overflow", "headers_cb_no_stream",
    "inbound_empty_frames_flood", "inbound_priority_frames_flood",
    "inbound_window_update_frames_flood", "keepalive_timeout", "metadata_empty_frames",
    "nghttp2_downstream_connections", "nghttp2_upstream_connections",
    "oghttp2_downstream_connections", "oghttp2_upstream_connections", "outbound_control_flood",
    "outbound_flood", "requests_rejected_with_underscores_in_headers", "rx_messaging_error",
    "rx_reset", "stream_refused_errors", "trailers", "tx_flush_timeout", "tx_reset")
STAT_GAUGES = ("streams_active", "pending_send_bytes", "deferred_stream_close",
               "outbound_frames_active", "outbound_control_frames_active")


#: Envoy 1.40's HTTP/2 codec counters and gauges, all at 0, as its admin /stats lists them (the
#: histograms cookie_count, cookie_size, header_count and header_list_size left out): rooted at
#: ``http2.`` downstream and ``cluster.<name>.http2.`` upstream, shared by the connections of one
#: worker or cluster; the gauges are sums over them. The codecs count what they see. The owner
#: counts ``keepalive_timeout``, ``tx_flush_timeout``, ``deferred_stream_close``, the underscore
#: pair (its headers_with_underscores_action) and the ``*_connections`` pair Envoy counts per codec
#: library (hotproxy reports nghttp2's, whose behaviour it matches); ``metadata_empty_frames``,
#: ``headers_cb_no_stream`` and ``cookies_total_bytes_too_large`` have no cause here.
Http2Stats = stat_set("Http2Stats", STAT_COUNTERS, gauges=STAT_GAUGES)


class InboundFrameLimits:
    """Envoy's ProtocolConstraints::trackInboundFrame, per connection."""
    __slots__ = ("stats", "max_empty", "max_priority_per_stream", "max_window_updates_per_data",
                 "consecutive_empty", "priority_frames", "window_update_frames", "opened_streams",
                 "data_frames_sent")

    def __init__(self, options, stats):
        self.stats = stats
        self.max_empty = options.max_consecutive_inbound_frames_with_empty_payload
        self.max_priority_per_stream = options.max_inbound_priority_frames_per_stream
        self.max_window_updates_per_data = (
            options.max_inbound_window_update_frames_per_data_frame_sent)
        self.consecutive_empty = self.priority_frames = self.window_update_frames = 0
        self.opened_streams = self.data_frames_sent = 0

    def track(self, frame):
        kind = frame.type
        if kind == DATA or kind == HEADERS or kind == CONTINUATION:
            return self.track_payload(len(frame.data), "END_STREAM" in frame.flags)
        if kind == PRIORITY:
            self.priority_frames += 1
            if self.priority_frames > self.max_priority_per_stream * (1 + self.opened_streams):
                self.stats.inbound_priority_frames_flood += 1
                return "too many PRIORITY frames"
        elif kind == WINDOW_UPDATE:
            self.window_update_frames += 1
            allowed = 5 + 2 * (self.opened_streams
                               + self.max_window_updates_per_data * self.data_frames_sent)
            if self.window_update_frames > allowed:
                self.stats.inbound_window_update_frames_flood += 1
                return "too many WINDOW_UPDATE frames"
        return None

    def track_payload(self, length, end_stream):
        """A DATA, HEADERS or CONTINUATION frame of ``length`` payload bytes (also read without a
        frame object, hot_frames.py)."""
        if not length and not end_stream:
            self.consecutive_empty += 1
            if self.consecutive_empty > self.max_empty:
                self.stats.inbound_empty_frames_flood += 1
                return "too many consecutive frames with an empty payload"
        else:
            self.consecutive_empty = 0
        return None


class OutboundFrameLimits:
    """Frames queued for the socket and not yet taken by ``data_to_send()``, as Envoy counts the
    frames in its write buffer until the socket drains them. The owner takes ``data_to_send()``
    when its writer can write (not into a buffer of its own), so a peer that stops reading while
    it sends PINGs or SETTINGS makes this count grow until the limit trips."""
    __slots__ = ("stats", "max_frames", "max_control_frames", "frames", "control_frames")

    def __init__(self, options, stats):
        self.stats = stats
        self.max_frames = options.max_outbound_frames
        self.max_control_frames = options.max_outbound_control_frames
        self.frames = self.control_frames = 0

    def queued(self, count, control=False):
        """Record ``count`` frames queued (``control``: PING/SETTINGS acks and RST_STREAM)."""
        self.frames += count
        self.stats.outbound_frames_active += count
        if control:
            self.control_frames += count
            self.stats.outbound_control_frames_active += count

    def check(self):
        if self.frames > self.max_frames:
            self.stats.outbound_flood += 1
            return "too many frames in the outbound queue"
        if self.control_frames > self.max_control_frames:
            self.stats.outbound_control_flood += 1
            return "too many control frames in the outbound queue"
        return None

    def drained(self):
        self.stats.outbound_frames_active -= self.frames
        self.stats.outbound_control_frames_active -= self.control_frames
        self.frames = self.control_frames = 0


class PrematureResets:
    """Envoy's rapid-reset rule (ConnectionManagerImpl::maybeDrainDueToPrematureResets): a closed
    stream is premature when it lived no longer than ``min_lifetime`` whole seconds and no response
    headers were sent for it. Once ``total`` streams have closed, the connection goes when at least
    half were premature; before that, as soon as premature ones reach ``total / 2``."""
    __slots__ = ("min_lifetime", "total", "closed", "premature")

    def __init__(self, options):
        self.min_lifetime = options.premature_reset_min_stream_lifetime_seconds
        self.total = options.premature_reset_total_stream_count
        self.closed = self.premature = 0

    def stream_closed(self, lifetime, responded):
        """Returns True when the connection must be aborted."""
        self.closed += 1
        if not responded and int(lifetime) <= self.min_lifetime:
            self.premature += 1
        if self.closed < self.total:
            return self.premature * 2 >= self.total
        return self.premature * 2 >= self.closed
