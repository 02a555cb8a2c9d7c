"""A pooled connection's lifetime limits (upstream/connection_limits.py): which stat retires a
connection after a request, and when an idle one is due, from common_http_protocol_options."""
import math
from types import SimpleNamespace

from hotproxy.config.cluster import Cluster
from hotproxy.upstream.connection_limits import (DEFAULT_IDLE_EXPIRY_S, ConnectionLimits, idle_deadline,
                                                 idle_expiry, retirement)


def test_a_cluster_without_limits_has_none():
    assert ConnectionLimits.of(Cluster(name="c")) is None
    assert idle_expiry(None) == DEFAULT_IDLE_EXPIRY_S


def test_idle_timeout_0_means_never():
    limits = ConnectionLimits.of(Cluster(name="c", idle_timeout=0.0))
    assert limits is not None and idle_expiry(limits) == math.inf


def test_retirement_by_requests_then_by_age():
    limits = ConnectionLimits(max_requests=3, max_duration=10.0)
    assert retirement(limits, 2, born=0.0, now=1.0) is None
    assert retirement(limits, 3, born=0.0, now=1.0) == "upstream_cx_max_requests"
    assert retirement(limits, 1, born=0.0, now=10.0) == "upstream_cx_max_duration_reached"
    assert retirement(ConnectionLimits(idle_timeout=5.0), 10 ** 6, born=0.0, now=10 ** 6) is None


def test_an_idle_connection_is_due_at_its_idle_timeout_or_its_age():
    conn = SimpleNamespace(idle_since=100.0, born=95.0)
    assert idle_deadline(ConnectionLimits(idle_timeout=2.0), conn, 2.0) == (102.0, "upstream_cx_idle_timeout")
    assert idle_deadline(ConnectionLimits(idle_timeout=2.0, max_duration=6.0), conn, 2.0) == \
        (101.0, "upstream_cx_max_duration_reached")
    # hotproxy's own expiry (no idle_timeout configured) is not counted
    assert idle_deadline(ConnectionLimits(max_requests=5), conn, DEFAULT_IDLE_EXPIRY_S) == \
        (100.0 + DEFAULT_IDLE_EXPIRY_S, None)
