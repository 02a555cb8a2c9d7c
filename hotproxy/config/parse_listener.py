"""Parser for Listener (envoy.config.listener.v3) and its network filters' typed configs: the
HTTP connection manager and the TCP proxy (their access logs: parse_accesslog.py), and the
filters before them (connection_limit; RBAC in parse_rbac.py)."""
from __future__ import annotations

from .fields import NOT_SUPPORTED, Enum, Fields, Node, parse_each, present, typed_config
from .listener import (ConnectionLimit, FilterChain, HttpConnectionManager, Listener,
                       NetworkFilter, TcpProxy, TcpWeightedCluster)
from .parse_accesslog import access_logs
from .parse_core import address
from .parse_http_filters import http_filters
from .parse_http2 import http2_options
from .parse_protocol import http1_enable_trailers
from .parse_upgrade import hcm_upgrade_configs
from .parse_filter_chain import downstream_transport_socket, filter_chain_match, listener_filter
from .parse_rbac import NETWORK_RBAC_TYPE, network_rbac
from .parse_request_id import request_id_extension
from .network_local_ratelimit import NETWORK_LOCAL_RATELIMIT_TYPE, network_local_ratelimit
from .parse_route import route_configuration
from .parse_tracing import hcm_tracing
from .parse_xds import rds
from .reload_probe import listener_metadata
from .route import RouteConfiguration

HTTP_CONNECTION_MANAGER_TYPE = ("type.googleapis.com/envoy.extensions.filters.network"
                                ".http_connection_manager.v3.HttpConnectionManager")
TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
CONNECTION_LIMIT_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3"
                         ".ConnectionLimit")

LISTENER = Fields(
    "name address filter_chains per_connection_buffer_limit_bytes enable_reuse_port "
    "traffic_direction connection_balance_config listener_filters listener_filters_timeout "
    "continue_on_listener_filters_timeout default_filter_chain ignore_global_conn_limit metadata",
    unsupported="additional_addresses stat_prefix fcds_config filter_chain_matcher "
                "use_original_dst deprecated_v1 drain_type "
                "transparent freebind socket_options tcp_fast_open_queue_length "
                "udp_listener_config api_listener "
                "reuse_port access_log tcp_backlog_size max_connections_to_accept_per_socket_event "
                "bind_to_port internal_listener enable_mptcp "
                "bypass_overload_manager tcp_keepalive")
FILTER_CHAIN = Fields(
    "filters name filter_chain_match transport_socket",
    unsupported="use_proxy_proto metadata transport_socket_connect_timeout")
FILTER = Fields("name typed_config", unsupported="config_discovery")

HTTP_CONNECTION_MANAGER = Fields(
    "codec_type stat_prefix route_config http_filters common_http_protocol_options server_name "
    "max_request_headers_kb stream_idle_timeout request_timeout request_headers_timeout "
    "use_remote_address xff_num_trusted_hops generate_request_id access_log normalize_path "
    "merge_slashes path_with_escaped_slashes_action strip_trailing_host_dot strip_any_host_port "
    "strip_matching_host_port forward_client_cert_details set_current_client_cert_details "
    "http2_protocol_options drain_timeout upgrade_configs rds tracing http_protocol_options "
    "request_id_extension",
    unsupported="scoped_routes add_user_agent http1_safe_max_connection_duration "
                "http3_protocol_options "
                "server_header_transformation scheme_header_transformation stream_flush_timeout "
                "delayed_close_timeout access_log_flush_interval "
                "flush_access_log_on_new_request access_log_options "
                "original_ip_detection_extensions early_header_mutation_extensions "
                "internal_address_config skip_xff_append via preserve_external_request_id "
                "always_set_request_id_in_response forward_client_cert_matcher proxy_100_continue "
                "represent_ipv4_remote_address_as_ipv4_mapped_ipv6 "
                "local_reply_config stream_error_on_invalid_http_message "
                "path_normalization_options proxy_status_config "
                "typed_header_validation_config append_x_forwarded_port append_local_overload "
                "add_proxy_protocol_connection_state forward_proto_config")
CODEC_TYPES = Enum("AUTO HTTP1 HTTP2", unsupported="HTTP3")
HTTP_PROTOCOL_OPTIONS = Fields(
    "idle_timeout max_headers_count max_response_headers_kb headers_with_underscores_action "
    "max_connection_duration max_requests_per_connection max_stream_duration")
ESCAPED_SLASHES_ACTIONS = Enum("IMPLEMENTATION_SPECIFIC_DEFAULT KEEP_UNCHANGED REJECT_REQUEST "
                               "UNESCAPE_AND_REDIRECT UNESCAPE_AND_FORWARD")
UNDERSCORES_ACTIONS = Enum("ALLOW REJECT_REQUEST DROP_HEADER")
FORWARD_CLIENT_CERT = Enum("SANITIZE FORWARD_ONLY APPEND_FORWARD SANITIZE_SET ALWAYS_FORWARD_ONLY")
CLIENT_CERT_DETAILS = Fields("subject cert chain dns uri")
CONNECTION_BALANCE = Fields("exact_balance extend_balance")
EXACT_BALANCE = Fields("")
CONNECTION_LIMIT = Fields("stat_prefix max_connections delay", unsupported="runtime_enabled")
TRAFFIC_DIRECTIONS = Enum("UNSPECIFIED INBOUND OUTBOUND")

TCP_PROXY = Fields(
    "stat_prefix cluster weighted_clusters idle_timeout access_log hash_policy",
    unsupported="on_demand metadata_match downstream_idle_timeout upstream_idle_timeout "
                "max_connect_attempts backoff_options tunneling_config "
                "max_downstream_connection_duration "
                "max_downstream_connection_duration_jitter_percentage access_log_flush_interval "
                "flush_access_log_on_connected access_log_options proxy_protocol_tlvs "
                "upstream_connect_mode max_early_data_bytes")
TCP_WEIGHTED_CLUSTERS = Fields("clusters")
TCP_HASH_POLICY = Fields("source_ip", unsupported="filter_state")
TCP_CLUSTER_WEIGHT = Fields("name weight", unsupported="metadata_match")


def listener(node: Node) -> Listener | None:
    m = node.message(LISTENER)
    if m is None:
        return None
    chain_nodes = m.items("filter_chains")
    default_chain = m.nested("default_filter_chain", filter_chain)
    if not chain_nodes and not m.has("default_filter_chain"):
        m.at("filter_chains").fail("a listener needs a filter chain or a default_filter_chain")
    chains = parse_each(chain_nodes, filter_chain)
    _refuse_identical_matches(chain_nodes, chains)
    probe = m.nested("metadata", listener_metadata)
    if probe is not None and not any(isinstance(chain.filters[-1], HttpConnectionManager)
                                     for chain in (*chains, default_chain) if chain is not None):
        m.at("metadata").fail("hotproxy.reload_probe needs an HTTP listener (an http_connection_manager)")
    return Listener(
        name=m.string("name", ""),      # parse.py names the unnamed ones, as Envoy does
        address=m.nested("address", address, required=True),
        filter_chains=chains,
        default_filter_chain=default_chain,
        listener_filters=m.repeated("listener_filters", listener_filter),
        reload_probe=probe,
        **present(connection_balance=m.nested("connection_balance_config", connection_balance),
                  per_connection_buffer_limit_bytes=m.uint32("per_connection_buffer_limit_bytes"),
                  enable_reuse_port=m.boolean("enable_reuse_port"),
                  traffic_direction=m.enum("traffic_direction", TRAFFIC_DIRECTIONS),
                  listener_filters_timeout=m.duration("listener_filters_timeout"),
                  ignore_global_conn_limit=m.boolean("ignore_global_conn_limit"),
                  continue_on_listener_filters_timeout=m.boolean("continue_on_listener_filters_timeout")))


def _refuse_identical_matches(chain_nodes, chains):
    """Two chains that match the same connections leave the choice to chance: Envoy refuses them."""
    seen = {}
    for chain_node, chain in zip(chain_nodes, chains):
        if chain is None:
            continue
        if chain.match in seen:
            chain_node.fail(f"multiple filter chains with the same matching rules are defined "
                            f"(the same filter_chain_match as filter_chains[{seen[chain.match]}])")
        else:
            seen[chain.match] = chain_nodes.index(chain_node)


def filter_chain(node: Node) -> FilterChain | None:
    m = node.message(FILTER_CHAIN)
    if m is None:
        return None
    filter_nodes = m.items("filters")
    if not filter_nodes:
        m.at("filters").fail(f"a filter chain without filters is {NOT_SUPPORTED}")
    filters = [network_filter(n) for n in filter_nodes]
    for index, (filter_node, config) in enumerate(zip(filter_nodes, filters)):
        last = index == len(filters) - 1
        non_terminal = isinstance(config, (ConnectionLimit, NetworkFilter))
        if non_terminal and last:
            filter_node.fail("the last filter of a chain must be a terminal filter "
                             "(http_connection_manager, tcp_proxy)")
        elif config is not None and not non_terminal and not last:
            # Envoy's words
            filter_node.fail(f"terminal filter named {filter_node.value.get('name')} must be the "
                             "last filter in a network filter chain")
    return FilterChain(filters=tuple(f for f in filters if f is not None),
                       **present(name=m.string("name"),
                                 match=m.nested("filter_chain_match", filter_chain_match),
                                 transport_socket=m.nested("transport_socket", downstream_transport_socket)))


def connection_balance(node: Node) -> str | None:
    """``"exact"`` for exact_balance (listener/balance.py: across the worker processes, the
    least-loaded one accepts). A balancer extension (extend_balance) has nothing to load."""
    m = node.message(CONNECTION_BALANCE)
    if m is None:
        return None
    chosen = m.one_of("exact_balance", "extend_balance")
    if chosen == "extend_balance":
        m.at("extend_balance").fail(f"extend_balance (a connection balancer extension) is {NOT_SUPPORTED}: "
                                    "hotproxy has no balancer extensions; exact_balance is built in")
        return None
    if chosen == "exact_balance":
        m.nested("exact_balance", lambda n: n.message(EXACT_BALANCE))
        return "exact"
    return None


def connection_limit(node: Node) -> ConnectionLimit | None:
    m = node.message(CONNECTION_LIMIT)
    if m is None:
        return None
    stat_prefix = m.string("stat_prefix", required=True)
    maximum = m.uint32("max_connections", required=True, minimum=1, maximum=2 ** 63)
    if stat_prefix is None or maximum is None:
        return None
    return ConnectionLimit(stat_prefix, maximum, **present(delay=m.duration("delay")))


def network_filter(node: Node) -> (HttpConnectionManager | TcpProxy | ConnectionLimit
                                   | NetworkFilter | None):
    m = node.message(FILTER)
    if m is None:
        return None
    m.string("name", required=True)        # any name: Envoy goes by the typed_config's type
    parsers = {HTTP_CONNECTION_MANAGER_TYPE: http_connection_manager, TCP_PROXY_TYPE: tcp_proxy,
               CONNECTION_LIMIT_TYPE: connection_limit, NETWORK_RBAC_TYPE: network_rbac,
               NETWORK_LOCAL_RATELIMIT_TYPE: network_local_ratelimit}
    return m.nested("typed_config", lambda n: typed_config(n, parsers), required=True)


def http_connection_manager(node: Node) -> HttpConnectionManager | None:
    m = node.message(HTTP_CONNECTION_MANAGER)
    if m is None:
        return None
    options = m.nested("common_http_protocol_options",
                       lambda n: n.message(HTTP_PROTOCOL_OPTIONS))
    if options is not None and options.has("max_response_headers_kb"):
        # Envoy's own refusal: response heads are bounded per cluster
        options.at("max_response_headers_kb").fail(
            "max_response_headers_kb cannot be set on http_connection_manager")
    if m.boolean("strip_any_host_port") and m.boolean("strip_matching_host_port"):
        m.node.fail("Only one of `strip_matching_host_port` or `strip_any_host_port` can be set.")
    m.nested("request_id_extension", request_id_extension)     # UUID, hotproxy's only way
    route_source = m.one_of("route_config", "rds")
    dynamic_routes = m.nested("rds", rds)
    return HttpConnectionManager(
        stat_prefix=m.string("stat_prefix", required=True),
        # until RDS sends it, a route table without routes: every request gets a 404 (NR)
        route_config=(m.nested("route_config", route_configuration) if route_source != "rds" else
                      RouteConfiguration(name=dynamic_routes.route_config_name if dynamic_routes else "")),
        rds=dynamic_routes,
        http_filters=http_filters(m),
        access_log=access_logs(m, tcp=False),
        **present(
            codec_type=m.enum("codec_type", CODEC_TYPES),
            http2_options=tuple(sorted((m.nested("http2_protocol_options", http2_options)
                                        or {}).items())) or None,
            server_name=m.string("server_name", http_safe=True),
            use_remote_address=m.boolean("use_remote_address"),
            xff_num_trusted_hops=m.uint32("xff_num_trusted_hops"),
            generate_request_id=m.boolean("generate_request_id"),
            idle_timeout=options and options.duration("idle_timeout"),
            max_headers_count=options and options.uint32("max_headers_count", minimum=1),
            max_requests_per_connection=options and options.uint32("max_requests_per_connection"),
            max_connection_duration=options and options.duration("max_connection_duration"),
            max_stream_duration=options and options.duration("max_stream_duration"),
            max_request_headers_kb=m.uint32("max_request_headers_kb", minimum=1, maximum=8192),
            enable_trailers=m.nested("http_protocol_options", http1_enable_trailers),
            request_timeout=m.duration("request_timeout"),
            drain_timeout=m.duration("drain_timeout"),
            upgrade_configs=m.nested("upgrade_configs", hcm_upgrade_configs),
            request_headers_timeout=m.duration("request_headers_timeout"),
            stream_idle_timeout=m.duration("stream_idle_timeout"),
            normalize_path=m.boolean("normalize_path"),
            merge_slashes=m.boolean("merge_slashes"),
            path_with_escaped_slashes_action=m.enum("path_with_escaped_slashes_action",
                                                    ESCAPED_SLASHES_ACTIONS),
            strip_trailing_host_dot=m.boolean("strip_trailing_host_dot"),
            strip_host_port=("ANY" if m.boolean("strip_any_host_port")
                             else "MATCHING" if m.boolean("strip_matching_host_port") else None),
            headers_with_underscores_action=options and options.enum(
                "headers_with_underscores_action", UNDERSCORES_ACTIONS),
            forward_client_cert_details=m.enum("forward_client_cert_details", FORWARD_CLIENT_CERT),
            client_cert_details=m.nested("set_current_client_cert_details", client_cert_details),
            tracing=m.nested("tracing", hcm_tracing)))


def client_cert_details(node: Node) -> dict | None:
    m = node.message(CLIENT_CERT_DETAILS)
    if m is None:
        return None
    return {name: bool(m.boolean(name)) for name in ("subject", "cert", "chain", "dns", "uri")}


def tcp_proxy(node: Node) -> TcpProxy | None:
    m = node.message(TCP_PROXY)
    if m is None:
        return None
    m.one_of("cluster", "weighted_clusters")
    cluster = m.string("cluster", non_empty=True)
    if cluster:
        m.at("cluster").refers_to_cluster(cluster)
    weighted = m.nested("weighted_clusters", tcp_weighted_clusters)
    policies = m.items("hash_policy")
    for extra in policies[1:]:
        extra.fail("hash_policy: at most one is allowed")     # Envoy's max_items: 1
    policy = policies[0].message(TCP_HASH_POLICY) if policies else None
    source_ip = policy is not None and policy.has("source_ip")
    if policy is not None and not source_ip and "filter_state" not in (policy.node.value or {}):
        policy.node.fail("exactly one of source_ip, filter_state is required")
    return TcpProxy(stat_prefix=m.string("stat_prefix", required=True),
                    access_log=access_logs(m, tcp=True), hash_source_ip=source_ip,
                    **present(cluster=cluster, weighted_clusters=weighted,
                              idle_timeout=m.duration("idle_timeout")))


def tcp_weighted_clusters(node: Node) -> tuple[TcpWeightedCluster, ...] | None:
    m = node.message(TCP_WEIGHTED_CLUSTERS)
    if m is None:
        return None
    cluster_nodes = m.items("clusters")
    if not cluster_nodes:
        m.at("clusters").fail("at least one cluster is required")
    return parse_each(cluster_nodes, tcp_cluster_weight)


def tcp_cluster_weight(node: Node) -> TcpWeightedCluster | None:
    m = node.message(TCP_CLUSTER_WEIGHT)
    if m is None:
        return None
    name = m.string("name", required=True)
    if name:
        m.at("name").refers_to_cluster(name)
    return TcpWeightedCluster(name=name, weight=m.uint32("weight", required=True, minimum=1))
