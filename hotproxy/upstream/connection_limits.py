"""How long a pooled upstream connection lives: a cluster's common_http_protocol_options
(``idle_timeout``, ``max_requests_per_connection``, ``max_connection_duration``), as Envoy's
connection pools apply them to HTTP/1.1 and HTTP/2 connections alike:

- a connection idle for ``idle_timeout`` is closed (``upstream_cx_idle_timeout``); 0 means
  never. Unset, hotproxy keeps its own expiry (``DEFAULT_IDLE_EXPIRY_S``, not counted): it is
  shorter than Envoy's default hour, because upstreams commonly drop idle connections after a
  minute and a request would meet the reset;
- a connection is retired after carrying ``max_requests_per_connection`` requests
  (``upstream_cx_max_requests``): it takes no further one and closes when its last ends;
- a connection older than ``max_connection_duration`` is drained
  (``upstream_cx_max_duration_reached``): no new request, closed once idle.

The pools consult a ``ConnectionLimits`` only when the cluster sets one of them: a cluster that
sets none costs nothing on the request path.
"""
from __future__ import annotations

import math

#: the idle expiry of a cluster without idle_timeout (see the module docstring)
DEFAULT_IDLE_EXPIRY_S = 55.0


class ConnectionLimits:
    __slots__ = ("idle_timeout", "max_requests", "max_duration")

    def __init__(self, idle_timeout=None, max_requests=0, max_duration=0.0):
        self.idle_timeout = idle_timeout    # None: unset
        self.max_requests = max_requests    # 0: unlimited
        self.max_duration = max_duration    # 0: unlimited

    @classmethod
    def of(cls, config):
        """The limits a Cluster config sets, or None when it sets none."""
        if (config.idle_timeout is None and not config.max_requests_per_connection
                and not config.max_connection_duration):
            return None
        return cls(config.idle_timeout, config.max_requests_per_connection,
                   config.max_connection_duration)


def idle_expiry(limits) -> float:
    """Seconds after which an idle connection is closed (inf: never)."""
    if limits is None or limits.idle_timeout is None:
        return DEFAULT_IDLE_EXPIRY_S
    return limits.idle_timeout or math.inf


def counts_idle_timeout(limits) -> bool:
    """Whether an idle expiry is the configured idle_timeout (counted), not hotproxy's own."""
    return limits is not None and limits.idle_timeout is not None


def retirement(limits, served, born, now):
    """The stat a connection that has carried ``served`` requests, opened at ``born``, is
    retired under at ``now``, or None while it may carry another."""
    if limits.max_requests and served >= limits.max_requests:
        return "upstream_cx_max_requests"
    if limits.max_duration and now - born >= limits.max_duration:
        return "upstream_cx_max_duration_reached"
    return None


def idle_deadline(limits, conn, expiry):
    """When the idle ``conn`` (``idle_since``, ``born``) is to be closed, and the stat that
    counts it (None for hotproxy's own expiry)."""
    idle_at = conn.idle_since + expiry
    stat = "upstream_cx_idle_timeout" if counts_idle_timeout(limits) else None
    if limits.max_duration:
        aged_at = conn.born + limits.max_duration
        if aged_at < idle_at:
            return aged_at, "upstream_cx_max_duration_reached"
    return idle_at, stat
