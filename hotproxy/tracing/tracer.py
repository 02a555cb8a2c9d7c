"""A connection manager's tracing: the decision, the span, the context the upstream hears, and
the span's end, reported with the stream's facts.

``upstream`` runs once the router chose the cluster (router.py, the one test tracing costs the
request path when it is off): ``start`` decides, marks the x-request-id and starts the
connection manager's span, then the router's egress span starts when asked (start_child_span,
spawn_upstream_span) and the context is written into the upstream request's headers. ``finish``
runs as the stream is logged (stream_log.py): the tags, and the spans go to the reporter.
A request that was answered before the router took it (a filter's reply, a malformed one) is
decided and spanned there, from what the log has.
"""
from __future__ import annotations

import time

from ..http.request_id import NOT_TRACED
from .decision import REASONS, decide
from .drivers import driver_for
from .stats import DecisionStats
from .tags import custom_tags, downstream_tags, upstream_tags

_DECORATOR = b"x-envoy-decorator-operation"


class TraceState:
    """What a stream carries between ``start``, ``upstream`` and ``finish`` (StreamInfo.trace):
    ``span`` is None when the request's context was malformed (Envoy's null span) or there is
    no provider; ``how`` what the driver needs to write the context upstream;
    ``response_operation`` the decorator the response names, or None."""
    __slots__ = ("span", "child", "how", "route", "response_operation")

    def __init__(self, span, how, route):
        self.span = span
        self.child = None
        self.how = how
        self.route = route
        self.response_operation = None


class Tracer:
    def __init__(self, config, cluster_manager):
        tracing = config.tracing
        self.config = tracing
        self.driver = (driver_for(tracing.provider, cluster_manager)
                       if tracing.provider is not None else None)
        self.stats = DecisionStats()
        self.shares = (tracing.client_sampling, tracing.random_sampling, tracing.overall_sampling)
        router = config.http_filters[-1] if config.http_filters else None
        self.child_spans = tracing.spawn_upstream_span or bool(
            router is not None and router.start_child_span)

    def stat_sets(self, stat_prefix):
        sets = [(f"http.{stat_prefix}.tracing.", self.stats)]
        if self.driver is not None:
            sets.append((self.driver.stat_prefix, self.driver.stats))
        return sets

    def start(self, stream, headers):
        """Decide for the request whose upstream headers are ``headers`` (edited in place: the
        marked x-request-id) and start its span."""
        info = stream.info
        if getattr(info, "trace", None) is not None:
            return      # a filter cleared the route and the router sees the stream again
        route = stream.route
        route_tracing = route.config.tracing if route is not None else None
        shares = self.shares if route_tracing is None else (
            route_tracing.client_sampling, route_tracing.random_sampling,
            route_tracing.overall_sampling)
        request_id = client = force = None
        id_at = -1
        host = b""
        operation = None
        for index, (name, value) in enumerate(headers):
            if name == b"x-request-id":
                request_id, id_at = value, index
            elif name == b"x-client-trace-id":
                client = value
            elif name == b"x-envoy-force-trace":
                force = value
            elif name == b"host":
                host = value
            elif name == _DECORATOR:
                operation = value
        mark, marked = decide(request_id, client is not None, force is not None, False, shares)
        if marked is not request_id and id_at >= 0:
            headers[id_at] = (b"x-request-id", marked)
        counter = REASONS[mark]
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        decorator = route.config.decorator if route is not None else None
        # the ingress span's operation: the caller's (an egress proxy's decorator), else the
        # route's, which the response then names too when it propagates (as in Envoy, even
        # for a request that is not traced)
        state = info.trace = TraceState(None, None, None)
        if operation is not None:
            headers[:] = [item for item in headers if item[0] != _DECORATOR]
        if operation:
            name = operation.decode("latin-1")
        elif decorator is not None:
            name = decorator.operation
            if decorator.propagate:
                state.response_operation = decorator.operation.encode()
        else:
            name = None
        driver = self.driver
        if driver is None:
            return
        start_us = int((time.time() - (time.monotonic() - stream.start)) * 1_000_000)
        span, state.how = driver.start(headers, mark != NOT_TRACED, host, start_us)
        if span is not None and name is not None:
            span.name = name
        state.span = span
        state.route = route

    def upstream(self, stream, cluster_name, headers):
        """The router chose ``cluster_name`` for the request whose upstream headers are
        ``headers``: the decision (unless made already), the egress span, and the context
        upstream."""
        state = getattr(stream.info, "trace", None)
        if state is None:
            self.start(stream, headers)
            state = stream.info.trace
        if state.span is None:
            return
        span = state.span
        if self.child_spans:
            start_us = int(time.time() * 1_000_000)
            span = state.child = self.driver.child(span, f"router {cluster_name} egress", start_us)
        self.driver.inject(headers, span, state.how)

    def response_header(self, stream):
        """x-envoy-decorator-operation for the response, or None: a route's decorator that
        propagates (Envoy tells the caller the operation its ingress span named)."""
        state = getattr(stream.info, "trace", None)
        if state is None or state.response_operation is None:
            return None
        return (_DECORATOR, state.response_operation)

    def finish(self, info):
        """The stream ended (StreamInfo as logged): tag its spans and report the sampled ones."""
        state = getattr(info, "trace", None)
        if state is None:
            state = self._late_start(info)
        if state is None or state.span is None:
            return
        span = state.span
        end_us = int(time.time() * 1_000_000)
        config = self.config
        downstream_tags(span, info, config.max_path_tag_length)
        route_tracing = state.route.config.tracing if state.route is not None else None
        tags = config.custom_tags if route_tracing is None else (
            config.custom_tags + route_tracing.custom_tags)
        if tags:
            custom_tags(span, tags, info)
        span.duration_us = max(end_us - span.start_us, 0)
        if config.verbose:
            _annotate_timings(span, info)
        child = state.child
        if child is not None:
            upstream_tags(child, info)
            if tags:
                custom_tags(child, tags, info)
            child.duration_us = max(end_us - child.start_us, 0)
        if not span.sampled:
            return
        reporter = self.driver.reporter
        if child is not None:
            reporter.report(child)
        reporter.report(span)

    def _late_start(self, info):
        """A stream answered before the router took it: decided and spanned from the log."""
        headers = info.request_headers
        if not headers:
            return None
        stream = _Late(info)
        self.start(stream, list(headers))
        return info.trace


#: verbose spans' logs: the StreamInfo timings hotproxy keeps (ms from the stream's start), with
#: Envoy's event names
_TIMINGS = (("request_complete_ms", "last_downstream_rx_byte_received"),
            ("first_upstream_rx_ms", "first_upstream_rx_byte_received"),
            ("response_complete_ms", "last_downstream_tx_byte_sent"))


def _annotate_timings(span, info):
    for field, event in _TIMINGS:
        at_ms = getattr(info, field)
        if at_ms is not None:
            span.annotate(span.start_us + int(at_ms * 1000), event)


class _Late:
    """The little of a stream ``start`` reads, from its StreamInfo."""
    __slots__ = ("info", "route", "start")

    def __init__(self, info):
        self.info = info
        self.route = None
        self.start = info.start_monotonic
