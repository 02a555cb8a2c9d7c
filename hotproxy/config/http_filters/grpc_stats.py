"""Parser for the gRPC statistics filter's ``FilterConfig``
(envoy.extensions.filters.http.grpc_stats.v3). ``enable_upstream_stats`` is refused when
true: hotproxy keeps no per-cluster gRPC upstream_rq_time histograms."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fields import NOT_SUPPORTED, Fields, Node

FILTER_CONFIG = Fields("emit_filter_state enable_upstream_stats stats_for_all_methods "
                       "individual_method_stats_allowlist replace_dots_in_grpc_service_name")
METHOD_LIST = Fields("services")
SERVICE = Fields("name method_names")


@dataclass(frozen=True)
class GrpcStats:
    """``allowlist``: the (service, method) pairs counted each on their own (None: no allowlist);
    ``all_methods``: every method is (Envoy's default: none is, all go to one set)."""
    runtime: ClassVar[str] = "grpc_stats"
    all_methods: bool = False
    allowlist: frozenset | None = None
    replace_dots: bool = False
    #: the message counts left in the filter state (%FILTER_STATE(envoy.filters.http.grpc_stats)%)
    emit_filter_state: bool = False


def parse(node: Node) -> GrpcStats | None:
    m = node.message(FILTER_CONFIG)
    if m is None:
        return None
    if m.boolean("enable_upstream_stats"):
        m.at("enable_upstream_stats").fail(f"true is {NOT_SUPPORTED}")
    kind = m.one_of("stats_for_all_methods", "individual_method_stats_allowlist", required=False)
    allowlist = None
    if kind == "individual_method_stats_allowlist":
        allowlist = m.nested(kind, _method_list)
    return GrpcStats(all_methods=bool(kind == "stats_for_all_methods"
                                      and m.boolean("stats_for_all_methods")),
                     allowlist=allowlist,
                     replace_dots=bool(m.boolean("replace_dots_in_grpc_service_name")),
                     emit_filter_state=bool(m.boolean("emit_filter_state")))


def _method_list(node):
    m = node.message(METHOD_LIST)
    if m is None:
        return None
    pairs = set()
    for service_node in m.items("services"):
        service = service_node.message(SERVICE)
        if service is None:
            continue
        name = service.string("name", required=True)
        methods = [method.string() for method in service.items("method_names")]
        pairs.update((name, method) for method in methods if name and method)
    return frozenset(pairs)
