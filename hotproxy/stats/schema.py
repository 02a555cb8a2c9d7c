"""Declared stat sets: each component names its stats once and gets a slotted object whose
hot-path update is a plain ``stats.name += 1``.

Counters only grow; the arbiter adds up the deltas workers ship. Gauges are levels: ``gauges``
are summed over the processes that report them (connections active in each worker), while
``shared_gauges`` describe one thing every worker sees alike (a cluster's membership) and are
merged by taking the highest report.
"""


def stat_set(class_name, counters, gauges=(), shared_gauges=()):
    """A class whose instances hold one integer per stat name, all starting at 0."""
    names = tuple(counters) + tuple(gauges) + tuple(shared_gauges)

    def __init__(self):
        for name in names:
            setattr(self, name, 0)
        self.shipped = {}  # counter → value last shipped to the arbiter (stats/shipper.py)

    return type(class_name, (), {"__slots__": names + ("shipped",), "__init__": __init__,
                                 "counters": tuple(counters),
                                 "gauges": tuple(gauges), "shared_gauges": tuple(shared_gauges)})


#: HttpStats' counters by response status class (count_status_class)
DOWNSTREAM_RQ_CLASSES = ("downstream_rq_1xx", "downstream_rq_2xx", "downstream_rq_3xx",
                         "downstream_rq_4xx", "downstream_rq_5xx")


def count_status_class(stats, class_names, status):
    """``stats.<class_names[k]> += 1`` for the status class of ``status`` (5xx for anything odd)."""
    name = class_names[status // 100 - 1] if 100 <= status < 600 else class_names[4]
    setattr(stats, name, getattr(stats, name) + 1)


HttpStats = stat_set("HttpStats", (
    "downstream_cx_total", "downstream_cx_destroy",
    "downstream_cx_idle_timeout", "downstream_cx_protocol_error",
    "downstream_rq_total", "downstream_rq_completed",
    "downstream_rq_1xx", "downstream_rq_2xx", "downstream_rq_3xx", "downstream_rq_4xx",
    "downstream_rq_5xx", "downstream_rq_timeout", "downstream_rq_header_timeout",
    "downstream_rq_idle_timeout", "downstream_rq_too_large", "downstream_rq_http1_total",
    "rq_direct_response", "rq_redirect", "no_route", "no_cluster",
    "downstream_rq_failed_path_normalization", "downstream_rq_redirected_with_normalized_path",
    "downstream_rq_overload_close", "downstream_cx_overload_disable_keepalive",
    "downstream_cx_ssl_total", "downstream_cx_http2_total", "downstream_rq_http2_total",
    "downstream_rq_too_many_premature_resets", "downstream_cx_upgrades_total",
    "downstream_cx_max_requests_reached", "downstream_cx_max_duration_reached",
    "downstream_rq_max_duration_reached", "downstream_rq_rx_reset",
), gauges=("downstream_cx_active", "downstream_rq_active", "downstream_cx_ssl_active",
           "downstream_cx_http2_active", "downstream_cx_upgrades_active"))

# Envoy's HTTP/1 codec stats, kept per connection manager and reported under ``http1.``.
Http1Stats = stat_set("Http1Stats", (
    "dropped_headers_with_underscores", "requests_rejected_with_underscores_in_headers",
))

ClusterStats = stat_set("ClusterStats", (
    "upstream_cx_total", "upstream_cx_connect_fail",
    "upstream_cx_connect_timeout", "upstream_cx_destroy", "upstream_rq_total",
    "upstream_rq_timeout", "upstream_rq_retry", "upstream_rq_retry_success",
    "upstream_rq_retry_overflow", "upstream_rq_retry_limit_exceeded",
    "upstream_rq_retry_backoff_exponential", "upstream_rq_retry_backoff_ratelimited",
    "upstream_rq_per_try_timeout", "upstream_rq_per_try_idle_timeout", "retry_or_shadow_abandoned",
    "upstream_rq_tx_reset", "upstream_rq_rx_reset",
    "upstream_rq_pending_total", "upstream_rq_pending_overflow",
    "upstream_rq_1xx", "upstream_rq_2xx", "upstream_rq_3xx", "upstream_rq_4xx", "upstream_rq_5xx",
    # Envoy counts every status code; hotproxy the two its router answers for a cluster itself
    "upstream_rq_completed", "upstream_cx_none_healthy",
    "upstream_cx_rx_bytes_total", "upstream_cx_tx_bytes_total", "upstream_cx_protocol_error",
    "upstream_cx_idle_timeout", "upstream_cx_max_requests", "upstream_cx_max_duration_reached",
    "upstream_rq_max_duration_reached",
), gauges=("upstream_cx_active", "upstream_rq_active"),
   shared_gauges=("membership_total", "membership_healthy"))

# Per host, shown on /clusters as Envoy shows them (not in /stats).
HostStats = stat_set("HostStats", (
    "cx_total", "cx_connect_fail", "rq_total", "rq_success", "rq_error", "rq_timeout",
))

TcpStats = stat_set("TcpStats", (
    "downstream_cx_total", "downstream_cx_no_route", "downstream_cx_rx_bytes_total",
    "downstream_cx_tx_bytes_total", "idle_timeout", "upstream_flush_total",
))

AccessLogStats = stat_set("AccessLogStats", ("dropped",))

ListenerStats = stat_set("ListenerStats", (
    "downstream_cx_total", "downstream_cx_destroy",
    "downstream_global_cx_overflow", "downstream_cx_overload_reject",
), gauges=("downstream_cx_active",))

# connection_limit.<stat_prefix>.*: active_connections counts the limited ones while they wait.
ConnectionLimitStats = stat_set("ConnectionLimitStats", ("limited_connections",),
                                gauges=("active_connections",))

# The overload manager's worker-side counts: global_downstream_max_connections refusals
# (``overload.<monitor>.failed_updates``) and streams reset_high_memory_stream reset
# (``envoy.overload_actions.reset_high_memory_stream.count``).
ProactiveMonitorStats = stat_set("ProactiveMonitorStats", ("failed_updates",))
OverloadResetStats = stat_set("OverloadResetStats", ("count",))
