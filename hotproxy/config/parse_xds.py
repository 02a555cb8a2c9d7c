"""Parsers for ConfigSource (envoy.config.core.v3) and the bootstrap's DynamicResources.

Envoy checks a source's shape when it subscribes; hotproxy checks it when it reads the config,
so that ``--mode validate`` and a reload refuse it with the field's path. A gRPC or REST source
must name a static cluster (Envoy: the xDS client starts before any dynamic cluster exists):
``check_api_clusters`` runs once the static clusters are known.
"""
from __future__ import annotations

from .fields import Enum, Fields, Message, Node, present
from .parse_side_service import ENVOY_GRPC
from .xds import ApiConfigSource, ConfigSource, DynamicResources, Eds, Rds

DYNAMIC_RESOURCES = Fields("lds_config cds_config ads_config",
                           unsupported="lds_resources_locator cds_resources_locator "
                                       "default_config_source")
CONFIG_SOURCE = Fields("path path_config_source api_config_source ads initial_fetch_timeout "
                       "resource_api_version",
                       unsupported="self authorities")
PATH_CONFIG_SOURCE = Fields("path watched_directory")
WATCHED_DIRECTORY = Fields("path")
AGGREGATED = Fields("")
API_CONFIG_SOURCE = Fields("api_type transport_api_version cluster_names grpc_services "
                           "refresh_delay request_timeout set_node_on_first_message_only",
                           unsupported="rate_limit_settings config_validators")
GRPC_SERVICE = Fields("envoy_grpc timeout", unsupported="google_grpc initial_metadata retry_policy")
API_TYPES = Enum("REST GRPC DELTA_GRPC AGGREGATED_GRPC AGGREGATED_DELTA_GRPC",
                 unsupported="DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE")
API_VERSIONS = Enum("V3", unsupported="AUTO V2")
RDS = Fields("route_config_name config_source")
EDS_CLUSTER_CONFIG = Fields("service_name eds_config")


def dynamic_resources(node: Node) -> DynamicResources | None:
    m = node.message(DYNAMIC_RESOURCES)
    if m is None:
        return None
    ads = m.nested("ads_config", lambda n: api_config_source(n, aggregated=True))
    result = DynamicResources(lds=m.nested("lds_config", config_source),
                              cds=m.nested("cds_config", config_source), ads=ads)
    for name in ("lds_config", "cds_config"):
        source = getattr(result, name[:3])
        if source is not None and source.ads and ads is None:
            m.at(name).child("ads").fail("ADS is used but the bootstrap has no "
                                         "dynamic_resources.ads_config")
    return result


def config_source(node: Node) -> ConfigSource | None:
    m = node.message(CONFIG_SOURCE)
    if m is None:
        return None
    _api_version(m, "resource_api_version")
    kind = m.one_of("path", "path_config_source", "api_config_source", "ads")
    timeout = m.duration("initial_fetch_timeout")
    common = present(initial_fetch_timeout=timeout)
    if kind == "path":      # deprecated: a file without a watched directory
        return ConfigSource(path=m.string("path", non_empty=True), **common)
    if kind == "path_config_source":
        path, watched = m.nested(kind, _path_config_source) or (None, None)
        return ConfigSource(path=path, watched_directory=watched, **common) if path else None
    if kind == "api_config_source":
        api = m.nested(kind, api_config_source)
        return ConfigSource(api=api, **common) if api is not None else None
    if kind == "ads":
        m.nested("ads", lambda n: n.message(AGGREGATED))
        return ConfigSource(ads=True, **common)
    return None


def _path_config_source(node: Node):
    m = node.message(PATH_CONFIG_SOURCE)
    if m is None:
        return None
    watched = m.nested("watched_directory", lambda n: _watched_directory(n))
    return m.string("path", required=True), watched


def _watched_directory(node: Node) -> str | None:
    m = node.message(WATCHED_DIRECTORY)
    return m.string("path", required=True) if m is not None else None


def api_config_source(node: Node, aggregated=False) -> ApiConfigSource | None:
    """``aggregated``: the bootstrap's ads_config, whose api_type is GRPC or DELTA_GRPC (or their
    AGGREGATED_ names); elsewhere an AGGREGATED_ type is refused, as Envoy refuses it."""
    m = node.message(API_CONFIG_SOURCE)
    if m is None:
        return None
    if not m.has("api_type"):
        m.at("api_type").fail("required field is missing")
    api_type = m.enum("api_type", API_TYPES)
    if api_type is None:
        return None
    _api_version(m, "transport_api_version")
    if aggregated and api_type == "REST":
        m.at("api_type").fail("ads_config must be GRPC or DELTA_GRPC: ADS has no REST form")
        return None
    if not aggregated and api_type.startswith("AGGREGATED_"):
        m.at("api_type").fail(f"{api_type} is only valid in dynamic_resources.ads_config")
        return None
    cluster = _rest_cluster(m) if api_type == "REST" else _grpc_cluster(m)
    if cluster is None:
        return None
    m.at("api_type").refers_to_cluster(cluster)
    return ApiConfigSource(api_type=api_type, cluster=cluster, **present(
        refresh_delay=m.duration("refresh_delay"), request_timeout=m.duration("request_timeout"),
        set_node_on_first_message_only=m.boolean("set_node_on_first_message_only")))


def _rest_cluster(m: Message) -> str | None:
    if m.has("grpc_services"):
        m.at("grpc_services").fail("REST API config sources name their server in cluster_names, "
                                   "not grpc_services")
        return None
    names = [n.string() for n in m.items("cluster_names")]
    if len(names) != 1:
        m.at("cluster_names").fail(f"a REST API config source names exactly one cluster, got {len(names)}")
        return None
    return names[0] or None


def _grpc_cluster(m: Message) -> str | None:
    if m.has("cluster_names"):
        m.at("cluster_names").fail("gRPC API config sources name their server in grpc_services, "
                                   "not cluster_names")
        return None
    services = m.items("grpc_services")
    if len(services) != 1:
        m.at("grpc_services").fail(f"a gRPC API config source has exactly one grpc_services "
                                   f"entry, got {len(services)}")
        return None
    service = services[0].message(GRPC_SERVICE)
    if service is None:
        return None
    service.duration("timeout")
    envoy_grpc = service.nested("envoy_grpc", lambda n: n.message(ENVOY_GRPC), required=True)
    if envoy_grpc is None:
        return None
    envoy_grpc.string("authority")
    return envoy_grpc.string("cluster_name", required=True)


def _api_version(m: Message, name: str) -> None:
    """V3 is the only version left: Envoy refuses V2 and AUTO since 1.19."""
    m.enum(name, API_VERSIONS)


def rds(node: Node) -> Rds | None:
    m = node.message(RDS)
    if m is None:
        return None
    name = m.string("route_config_name", required=True)
    source = m.nested("config_source", config_source, required=True)
    return Rds(name, source) if name and source is not None else None


def eds_cluster_config(node: Node, cluster_name: str) -> Eds | None:
    m = node.message(EDS_CLUSTER_CONFIG)
    if m is None:
        return None
    source = m.nested("eds_config", config_source, required=True)
    service_name = m.string("service_name") or cluster_name
    return Eds(service_name, source) if source is not None else None


def source_problem(source: ConfigSource, bootstrap) -> str | None:
    """Why ``source`` cannot be followed with ``bootstrap``'s static clusters, or None. A gRPC
    or REST server is reached through a static cluster (Envoy: the xDS client starts before any
    dynamic cluster exists), in plain text for now."""
    api = bootstrap.dynamic_resources.ads if source.ads and bootstrap.dynamic_resources else source.api
    if api is None:
        return None if not source.ads else "ADS is used but the bootstrap has no dynamic_resources.ads_config"
    cluster = bootstrap.cluster(api.cluster)
    if cluster is None:
        return f"the control plane's cluster '{api.cluster}' is not a static cluster"
    if cluster.type not in ("STATIC", "STRICT_DNS", "LOGICAL_DNS") or not any(cluster.all_endpoints()):
        return f"the control plane's cluster '{api.cluster}' has no endpoint to connect to"
    if cluster.transport_socket is not None or cluster.transport_socket_matches:
        return f"TLS to the control plane (cluster '{api.cluster}') is not supported by hotproxy yet"
    return None


def bootstrap_source_problems(bootstrap) -> list:
    """(path, reason) of the bootstrap's own sources that cannot be followed: its ADS server,
    LDS and CDS, and the RDS and EDS sources of its static listeners and clusters."""
    dynamic = bootstrap.dynamic_resources
    sources = [(f"dynamic_resources.{kind[0]}ds_config", source)
               for kind, source in (dynamic.sources if dynamic else []) if not source.ads]
    if dynamic is not None and dynamic.ads is not None:
        sources.append(("dynamic_resources.ads_config", ConfigSource(ads=True)))
    sources += [(f"static_resources.listeners[{index}]", hcm.rds.config_source)
                for index, listener in enumerate(bootstrap.listeners)
                for hcm in listener.connection_managers() if hcm.rds is not None]
    sources += [(f"static_resources.clusters[{index}].eds_cluster_config", cluster.eds.config_source)
                for index, cluster in enumerate(bootstrap.clusters) if cluster.eds is not None]
    runtime = getattr(bootstrap, "layered_runtime", None)
    sources += [(f"layered_runtime.layers[{index}].rtds_layer.rtds_config", layer.rtds_config)
                for index, layer in enumerate(runtime.layers if runtime else ())
                if getattr(layer, "rtds_config", None) is not None]
    problems = []
    for path, source in sources:
        reason = source_problem(source, bootstrap)
        if reason is not None and (path, reason) not in problems:
            problems.append((path, reason))
    return problems


def rtds_layers(bootstrap) -> list:
    """The bootstrap's runtime layers that RTDS fills."""
    runtime = getattr(bootstrap, "layered_runtime", None)
    return [layer for layer in (runtime.layers if runtime else ()) if getattr(layer, "rtds_config", None)]
