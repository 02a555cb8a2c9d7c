"""Envoy-shaped resources and bootstraps for the xDS tests: what a control plane sends (as the
dicts xds_control.XdsServer.set takes) and the bootstrap of a data plane driven by it."""
from __future__ import annotations

from harness import HCM_TYPE, ROUTER_TYPE, static_cluster

HTTP2_OPTIONS = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "explicit_http_config": {"http2_protocol_options": {}}}}
ADS = {"ads": {}, "resource_api_version": "V3"}


def ads_bootstrap(xds_port, admin_port, node_id="data-plane", api_type="GRPC", kinds=("lds", "cds"),
                  node_extra=None):
    """A bootstrap with nothing but a control plane: LDS and CDS (``kinds``) over one ADS stream."""
    dynamic = {"ads_config": {"api_type": api_type, "transport_api_version": "V3",
                              "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}]}}
    for kind in kinds:
        dynamic[f"{kind}_config"] = ADS
    return {
        "node": {"id": node_id, "cluster": "test", **(node_extra or {})},
        "dynamic_resources": dynamic,
        "static_resources": {"clusters": [static_cluster("xds", xds_port, extra={
            "typed_extension_protocol_options": HTTP2_OPTIONS})]},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
    }


def rds_listener(name, port, route_name, source=ADS, stat_prefix=None):
    """An HTTP listener on 127.0.0.1:``port`` whose routes come from RDS."""
    return _http_listener(name, port, stat_prefix, {
        "rds": {"route_config_name": route_name, "config_source": source}})


def inline_listener(name, port, routes, stat_prefix=None):
    """An HTTP listener on 127.0.0.1:``port`` with its route configuration inline."""
    return _http_listener(name, port, stat_prefix, {"route_config": routes})


def _http_listener(name, port, stat_prefix, routing):
    hcm = {"@type": HCM_TYPE, "stat_prefix": stat_prefix or name, **routing,
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]}
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


def route_config(name, cluster, prefix="/", extra_routes=()):
    return {"name": name, "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        *extra_routes, {"match": {"prefix": prefix}, "route": {"cluster": cluster}}]}]}


def eds_cluster(name, source=ADS, extra=None):
    return {"name": name, "type": "EDS", "connect_timeout": "1s",
            "eds_cluster_config": {"eds_config": source}, **(extra or {})}


def assignment(name, *ports):
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
        for port in ports]}]}


def serve(server, listeners=(), clusters=(), endpoints=(), routes=(), version=None):
    """Set every type on ``server`` (clusters and their endpoints first, as a control plane
    orders them)."""
    for kind, resources in (("clusters", clusters), ("endpoints", endpoints), ("routes", routes),
                            ("listeners", listeners)):
        server.set(kind, list(resources), version=version)
