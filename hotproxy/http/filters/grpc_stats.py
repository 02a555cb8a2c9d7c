"""The gRPC statistics filter (envoy.filters.http.grpc_stats) as in Envoy 1.40 (probed on its
binary): gRPC requests (content-type application/grpc, +codec or ;params; not gRPC-Web) are
counted in their cluster's scope,

- ``cluster.<name>.grpc.<grpc-status>``, ``.success`` (status 0) or ``.failure``, and ``.total``
  once an answer carries a grpc-status (its trailers, or a trailers-only head);
- ``cluster.<name>.grpc.request_message_count`` / ``response_message_count``: the messages each
  body carried, counted as they stream (http/grpc_frames.py).

With ``stats_for_all_methods``, or for the (service, method) pairs of
``individual_method_stats_allowlist``, the names have ``<service>.<method>.`` after ``grpc.``;
other requests go to the set without. ``replace_dots_in_grpc_service_name`` writes the
service's dots as underscores, where every method is counted (the binary leaves allowlisted
names as they are). The names are known only at run time: one CounterMap under ``cluster.``.
"""
from __future__ import annotations

from ...stats.counter_map import CounterMap
from ..grpc import is_grpc
from ..grpc_frames import FrameCounter, service_and_method
from .api import CONTINUE, FilterFactory, HttpFilter, header_value


def factory(config, context):
    return GrpcStatsFactory(config)


class GrpcStatsFactory(FilterFactory):
    def __init__(self, config):
        self.name = ""
        self.config = config
        self.stats = CounterMap()

    def stat_sets(self):
        return (("cluster.", self.stats),)

    def create(self, stream):
        if not is_grpc(stream.request.headers):
            return None
        grpc_filter = GrpcStatsFilter(self, self.method_scope(stream.request.target))
        if self.config.emit_filter_state:
            stream.info.set_filter_state(FILTER_STATE_KEY, MessageCounts(grpc_filter))
        return grpc_filter

    def method_scope(self, target):
        """``<service>.<method>.`` for a request counted on its own, else ``""``."""
        config = self.config
        names = service_and_method(target)
        if names is None:
            return ""
        service, method = names
        if config.all_methods:
            return f"{service.replace('.', '_') if config.replace_dots else service}.{method}."
        if config.allowlist is not None and names in config.allowlist:
            return f"{service}.{method}."
        return ""


#: where emit_filter_state leaves the counts, Envoy's name
FILTER_STATE_KEY = "envoy.filters.http.grpc_stats"


class MessageCounts:
    """Envoy's GrpcStatsObject, read when the access log is written: the messages each way so
    far. As Envoy prints it: as JSON, the proto's (uint64 as strings, zeros left out); as a
    plain string, ``<request>,<response>``."""

    __slots__ = ("_filter",)

    def __init__(self, grpc_filter):
        self._filter = grpc_filter

    def counts(self):
        responses = self._filter.responses
        return self._filter.requests.count, 0 if responses is None else responses.count

    def serialize_as_json(self) -> bytes:
        request, response = self.counts()
        fields = [b'"%s":"%d"' % (name, count) for name, count in (
            (b"requestMessageCount", request), (b"responseMessageCount", response)) if count]
        return b"{%b}" % b",".join(fields)

    def serialize_as_string(self) -> bytes:
        return b"%d,%d" % self.counts()


class GrpcStatsFilter(HttpFilter):
    __slots__ = ("factory", "scope", "requests", "responses")

    def __init__(self, factory_, scope):
        self.factory = factory_
        self.scope = scope              # "<service>.<method>." or ""
        self.requests = FrameCounter()
        self.responses = FrameCounter()     # None when the answer is not gRPC

    def _prefix(self, stream):
        cluster = stream.cluster
        return None if cluster is None else f"{cluster.stat_name}.grpc.{self.scope}"

    def decode_data(self, stream, data, end_stream):
        self._count_messages(stream, self.requests, data, "request_message_count")
        return CONTINUE

    def encode_headers(self, stream, response, end_stream):
        if end_stream:
            self._charge(stream, response.headers)
        elif not is_grpc(response.headers):
            self.responses = None       # not a gRPC answer: its body carries no messages
        return CONTINUE

    def encode_data(self, stream, data, end_stream):
        if self.responses is not None:
            self._count_messages(stream, self.responses, data, "response_message_count")
        return CONTINUE

    def encode_trailers(self, stream, trailers):
        self._charge(stream, trailers)
        return CONTINUE

    def _count_messages(self, stream, counter, data, name):
        started = counter.feed(data)
        prefix = self._prefix(stream) if started else None
        if prefix is not None:
            self.factory.stats.add(prefix + name, started)

    def _charge(self, stream, headers):
        status = header_value(headers, b"grpc-status")
        prefix = self._prefix(stream)
        if status is None or prefix is None:
            return
        stats = self.factory.stats
        stats.add(prefix + status.decode("latin-1"))
        stats.add(prefix + ("success" if status == b"0" else "failure"))
        stats.add(prefix + "total")
