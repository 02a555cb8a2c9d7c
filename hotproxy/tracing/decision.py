"""Whether a request is traced, as Envoy's connection manager decides it.

The decision travels in the x-request-id (http/request_id.py's trace mark): a request that
arrives marked keeps its mark; an unmarked one is marked CLIENT when it carries
x-client-trace-id and the client share draws in, FORCED when it carries x-envoy-force-trace
from an internal peer, SAMPLED when the random share takes the id's sampling value. Whatever
the mark, the overall share (also drawn on the id's value) may still clear it. The value drawn
on is the same at every hop, so shares that agree take the same requests everywhere.
"""
from __future__ import annotations

from ..http.request_id import (CLIENT, FORCED, NOT_TRACED, SAMPLED, sampling_value,
                               trace_mark, with_trace_mark)
from ..runtime import fraction_enabled, random_value

#: why a request is traced (or not): the HCM's ``tracing.*`` counter it adds to
REASONS = {SAMPLED: "random_sampling", FORCED: "service_forced", CLIENT: "client_enabled",
           NOT_TRACED: "not_traceable"}


def decide(request_id, client_trace_id, force_trace, internal, shares):
    """(mark, request id carrying it) for a request whose x-request-id is ``request_id``
    (bytes, None when it has none); ``client_trace_id``/``force_trace``: whether those headers
    came; ``shares``: (client, random, overall) as (numerator, denominator) pairs. Runtime keys
    tracing.client_enabled, tracing.random_sampling and tracing.global_enabled override them,
    as in Envoy."""
    if request_id is None:
        return NOT_TRACED, None
    value = sampling_value(request_id)
    if value is None:
        return trace_mark(request_id), request_id
    value %= 10000
    client, random_share, overall = shares
    mark = trace_mark(request_id)
    if mark == NOT_TRACED:
        if client_trace_id and fraction_enabled("tracing.client_enabled", client, random_value()):
            mark = CLIENT
        elif force_trace and internal:
            mark = FORCED
        elif fraction_enabled("tracing.random_sampling", random_share, value):
            mark = SAMPLED
    if mark != NOT_TRACED and not fraction_enabled("tracing.global_enabled", overall, value):
        mark = NOT_TRACED
    return mark, with_trace_mark(request_id, mark)
