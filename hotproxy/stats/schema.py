"""Declared stat sets: each component names its counters once and gets a slotted object whose
hot-path update is a plain ``stats.name += 1``."""


def counter_set(class_name, names):
    """A class whose instances hold one integer per name in ``names``, all starting at 0."""
    names = tuple(names)

    def __init__(self):
        for name in names:
            setattr(self, name, 0)

    def snapshot(self):
        return {name: getattr(self, name) for name in names}

    return type(class_name, (), {"__slots__": names, "__init__": __init__,
                                 "snapshot": snapshot, "names": names})


def count_status_class(stats, class_names, status):
    """``stats.<class_names[k]> += 1`` for the status class of ``status`` (5xx for anything odd)."""
    name = class_names[status // 100 - 1] if 100 <= status < 600 else class_names[4]
    setattr(stats, name, getattr(stats, name) + 1)


HttpStats = counter_set("HttpStats", (
    "downstream_cx_total", "downstream_cx_active", "downstream_cx_destroy",
    "downstream_cx_idle_timeout", "downstream_cx_protocol_error",
    "downstream_rq_total", "downstream_rq_active", "downstream_rq_completed",
    "downstream_rq_1xx", "downstream_rq_2xx", "downstream_rq_3xx", "downstream_rq_4xx",
    "downstream_rq_5xx", "downstream_rq_timeout", "downstream_rq_header_timeout",
    "downstream_rq_idle_timeout", "downstream_rq_too_large", "downstream_rq_http1_total",
    "rq_direct_response", "rq_redirect", "no_route", "no_cluster",
))

ClusterStats = counter_set("ClusterStats", (
    "upstream_cx_total", "upstream_cx_active", "upstream_cx_connect_fail",
    "upstream_cx_connect_timeout", "upstream_cx_destroy", "upstream_rq_total",
    "upstream_rq_active", "upstream_rq_timeout", "upstream_rq_retry",
    "upstream_rq_pending_total", "upstream_rq_pending_overflow",
    "upstream_rq_1xx", "upstream_rq_2xx", "upstream_rq_3xx", "upstream_rq_4xx", "upstream_rq_5xx",
    "upstream_cx_rx_bytes_total", "upstream_cx_tx_bytes_total",
    "membership_total", "membership_healthy",
))

TcpStats = counter_set("TcpStats", (
    "downstream_cx_total", "downstream_cx_no_route", "downstream_cx_rx_bytes_total",
    "downstream_cx_tx_bytes_total", "idle_timeout", "upstream_flush_total",
))

ListenerStats = counter_set("ListenerStats", ("downstream_cx_total", "downstream_cx_active"))
