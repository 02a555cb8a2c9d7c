"""Parsers for what a cluster needs to be Envoy's ORIGINAL_DST (original_dst_lb_config,
cleanup_interval, the CLUSTER_PROVIDED pairing) and for upstream_bind_config, with Envoy 1.40's
refusals (as ``envoy --mode validate`` words them)."""
from __future__ import annotations

from .cluster import OriginalDstLbConfig, UpstreamBindConfig
from .fields import NOT_SUPPORTED, Fields, Message, Node, present
from .parse_core import socket_address

ORIGINAL_DST_LB_CONFIG = Fields("use_http_header http_header_name upstream_port_override",
                                unsupported="metadata_key")
BIND_CONFIG = Fields("source_address freebind",
                     unsupported="socket_options extra_source_addresses additional_source_addresses "
                                 "local_address_selector")
DEFAULT_HEADER = "x-envoy-original-dst-host"


def original_dst_fields(m: Message, kind: str | None, policy: str | None) -> dict:
    """The Cluster keyword arguments of an ORIGINAL_DST cluster (cleanup_interval and
    original_dst_lb_config), after Envoy's checks of the type and lb_policy pairing; read, and
    checked, whatever the type, as Envoy does (it ignores them on other types)."""
    original_dst = kind == "ORIGINAL_DST"
    if original_dst and policy != "CLUSTER_PROVIDED":
        m.at("lb_policy").fail(f"LB policy {policy or 'ROUND_ROBIN'} is not valid for Cluster type "
                               "ORIGINAL_DST. Only 'CLUSTER_PROVIDED' is allowed with cluster type "
                               "'ORIGINAL_DST'")
    elif policy == "CLUSTER_PROVIDED" and not original_dst:
        name = m.get("name")
        m.at("lb_policy").fail(f"cluster provided LB specified but cluster "
                               f"'{name.value if name else ''}' did not provide one. "
                               "Check cluster documentation.")
    if original_dst and m.has("load_assignment"):
        m.at("load_assignment").fail("ORIGINAL_DST clusters must have no load assignment configured")
    if original_dst and m.has("health_checks"):
        m.at("health_checks").fail(f"health checks of an ORIGINAL_DST cluster are {NOT_SUPPORTED}")
    if original_dst and m.has("outlier_detection"):
        m.at("outlier_detection").fail(f"outlier detection of an ORIGINAL_DST cluster is {NOT_SUPPORTED}")
    cleanup = m.duration("cleanup_interval")
    if cleanup is not None and cleanup <= 0:
        m.at("cleanup_interval").fail("must be greater than 0s")
        cleanup = None
    lb_config = m.nested("original_dst_lb_config", lambda n: original_dst_lb_config(n, original_dst))
    return present(cleanup_interval=cleanup, original_dst_lb_config=lb_config)


def original_dst_lb_config(node: Node, original_dst: bool) -> OriginalDstLbConfig | None:
    m = node.message(ORIGINAL_DST_LB_CONFIG)
    if m is None:
        return None
    use_header = m.boolean("use_http_header", False)
    name = m.string("http_header_name", "", http_safe=True)
    port = m.uint32("upstream_port_override", maximum=65535)
    if name and not use_header and original_dst:
        m.at("http_header_name").fail(
            f"ORIGINAL_DST cluster: invalid config http_header_name={name} and use_http_header is "
            "false. Set use_http_header to true if http_header_name is desired.")
    header = (name or DEFAULT_HEADER).lower() if use_header else None
    return OriginalDstLbConfig(http_header_name=header, upstream_port_override=port)


def upstream_bind_config(node: Node) -> UpstreamBindConfig | None:
    """core.v3.BindConfig: ``source_address`` is a SocketAddress (an IP literal and a
    port_value, 0 for any port)."""
    m = node.message(BIND_CONFIG)
    if m is None:
        return None
    source = m.nested("source_address", lambda n: socket_address(n, ip_only=True))
    freebind = m.boolean("freebind", False)
    return UpstreamBindConfig(source_address=source and (source.address, source.port), freebind=freebind)
