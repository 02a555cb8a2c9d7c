"""Parser for ``RouteAction.request_mirror_policies[]`` (envoy.config.route.v3) into
route.MirrorPolicy."""
from __future__ import annotations

from .fields import Fields, Node, present
from .parse_runtime import runtime_fractional_percent
from .route import MirrorPolicy

REQUEST_MIRROR_POLICY = Fields(
    "cluster cluster_header runtime_fraction disable_shadow_host_suffix_append",
    unsupported="trace_sampled request_headers_mutations host_rewrite_literal")


def mirror_policy(node: Node) -> MirrorPolicy | None:
    m = node.message(REQUEST_MIRROR_POLICY)
    if m is None:
        return None
    kind = m.one_of("cluster", "cluster_header")
    cluster = m.string("cluster", non_empty=True)
    if cluster:
        m.at("cluster").refers_to_cluster(cluster)
    header = m.string("cluster_header", non_empty=True, http_safe=True)
    fraction = m.nested("runtime_fraction", runtime_fractional_percent)
    suffix = m.boolean("disable_shadow_host_suffix_append")
    if kind is None:
        return None
    return MirrorPolicy(**present(cluster=cluster, cluster_header=header and header.lower(),
                                  numerator=fraction and fraction.numerator,
                                  denominator=fraction and fraction.denominator,
                                  runtime_key=fraction and fraction.runtime_key,
                                  host_suffix=None if suffix is None else not suffix))
