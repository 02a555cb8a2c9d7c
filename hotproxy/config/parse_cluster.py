"""Parser for Cluster (envoy.config.cluster.v3) and its load assignment (envoy.config.endpoint.v3)
into cluster.py's dataclasses."""
from __future__ import annotations

from .cluster import (Cluster, LbEndpoint, LocalityLbEndpoints, RetryBudget, SlowStart, Thresholds,
                      UpstreamProxyProtocol)
from .tls import UpstreamTlsContext
from .fields import NOT_SUPPORTED, Enum, Fields, Node, present
from .parse_core import address, percent_value
from .parse_dns import dns_settings
from .parse_outlier import outlier_detection
from .parse_health_check import endpoint_health_check_config, health_checks
from .parse_original_dst import original_dst_fields, upstream_bind_config
from .parse_protocol import (http1_enable_trailers, legacy_http2_options, request_server_names,
                             typed_extension_protocol_options, upstream_common_options)
from .parse_xds import eds_cluster_config
from .xds import Eds
from .parse_upstream_transport import (METADATA, socket_match_labels, struct, transport_socket_match,
                                      upstream_transport_socket)

CLUSTER = Fields(
    "name type connect_timeout lb_policy load_assignment dns_refresh_rate dns_lookup_family "
    "per_connection_buffer_limit_bytes circuit_breakers least_request_lb_config round_robin_lb_config "
    "ring_hash_lb_config maglev_lb_config common_lb_config "
    "typed_extension_protocol_options transport_socket upstream_http_protocol_options "
    "transport_socket_matches health_checks outlier_detection http2_protocol_options "
    "cleanup_interval original_dst_lb_config upstream_bind_config "
    "dns_failure_refresh_rate respect_dns_ttl dns_resolvers typed_dns_resolver_config "
    "eds_cluster_config alt_stat_name metadata max_requests_per_connection "
    "common_http_protocol_options http_protocol_options",
    # ``hosts`` was removed in v3; it is listed for older configs that still carry it.
    unsupported="hosts transport_socket_matcher "
                "cluster_type "
                "dns_jitter use_tcp_for_dns_lookups dns_resolution_config "
                "wait_for_warm_on_init "
                "lb_subset_config "
                "protocol_selection upstream_connection_options "
                "close_connections_on_host_health_failure ignore_health_on_host_removal filters "
                "load_balancing_policy lrs_server lrs_report_endpoint_metrics "
                "track_timeout_budgets upstream_config track_cluster_stats preconnect_policy "
                "connection_pool_per_downstream_connection")
DISCOVERY_TYPES = Enum("STATIC STRICT_DNS LOGICAL_DNS ORIGINAL_DST EDS")
LB_POLICIES = Enum("ROUND_ROBIN LEAST_REQUEST RANDOM RING_HASH MAGLEV CLUSTER_PROVIDED",
                   unsupported="LOAD_BALANCING_POLICY_CONFIG")
RING_HASH_LB_CONFIG = Fields("minimum_ring_size maximum_ring_size hash_function")
HASH_FUNCTIONS = Enum("XX_HASH MURMUR_HASH_2")
MAGLEV_LB_CONFIG = Fields("table_size")
COMMON_LB_CONFIG = Fields(
    "healthy_panic_threshold locality_weighted_lb_config",
    unsupported="zone_aware_lb_config update_merge_window "
                "ignore_new_hosts_until_first_hc close_connections_on_host_set_change "
                "consistent_hashing_lb_config override_host_status")
MAX_RING_SIZE = 8388608
MAX_MAGLEV_TABLE_SIZE = 5000011
DNS_LOOKUP_FAMILIES = Enum("AUTO V4_ONLY V6_ONLY V4_PREFERRED ALL")
LEAST_REQUEST_LB_CONFIG = Fields("choice_count active_request_bias slow_start_config",
                                 unsupported="locality_lb_config enable_full_scan selection_method")
ROUND_ROBIN_LB_CONFIG = Fields("slow_start_config", unsupported="locality_lb_config")
SLOW_START_CONFIG = Fields("slow_start_window aggression min_weight_percent")
RUNTIME_DOUBLE = Fields("default_value runtime_key")
CIRCUIT_BREAKERS = Fields("thresholds", unsupported="per_host_thresholds")
THRESHOLDS = Fields("priority max_connections max_pending_requests max_requests max_retries "
                    "retry_budget track_remaining",
                    unsupported="max_connection_pools")
RETRY_BUDGET = Fields("budget_percent min_retry_concurrency")
ROUTING_PRIORITIES = Enum("DEFAULT HIGH")

CLUSTER_LOAD_ASSIGNMENT = Fields("cluster_name endpoints", unsupported="named_endpoints policy")
LOCALITY_LB_ENDPOINTS = Fields(
    "lb_endpoints load_balancing_weight priority metadata locality",
    unsupported="load_balancer_endpoints leds_cluster_locality_config "
                "proximity")
LB_ENDPOINT = Fields("endpoint load_balancing_weight metadata health_status",
                     unsupported="endpoint_name")
HEALTH_STATUSES = Enum("UNKNOWN HEALTHY UNHEALTHY DRAINING TIMEOUT DEGRADED")
LOCALITY = Fields("region zone sub_zone")
ENDPOINT = Fields("address health_check_config hostname", unsupported="additional_addresses")


def cluster(node: Node) -> Cluster | None:
    m = node.message(CLUSTER)
    if m is None:
        return None
    kind = m.enum("type", DISCOVERY_TYPES)
    ip_only = kind == "STATIC" or not m.has("type")
    connect_timeout = m.duration("connect_timeout")
    if connect_timeout == 0:
        m.at("connect_timeout").fail("must be greater than 0s")
    dns_refresh_rate = m.duration("dns_refresh_rate")
    if dns_refresh_rate is not None and dns_refresh_rate <= 0.001:
        m.at("dns_refresh_rate").fail("must be greater than 0.001s")
    endpoints = m.nested("load_assignment",
                         lambda n: load_assignment(n, ip_only))
    endpoints_per_locality = [len(locality.lb_endpoints) for locality in endpoints or ()]
    if kind == "LOGICAL_DNS" and endpoints_per_locality != [1]:
        m.at("load_assignment").fail("LOGICAL_DNS clusters must have a single "
                                     "locality_lb_endpoint and a single lb_endpoint")
    least_request = m.nested("least_request_lb_config",
                             lambda n: n.message(LEAST_REQUEST_LB_CONFIG))
    round_robin = m.nested("round_robin_lb_config", lambda n: n.message(ROUND_ROBIN_LB_CONFIG))
    policy_slow_start = {"ROUND_ROBIN": round_robin, "LEAST_REQUEST": least_request}
    limits = m.nested("circuit_breakers", circuit_breakers) or {}
    ring = m.nested("ring_hash_lb_config", ring_hash_lb_config) or {}
    maglev_table_size = m.nested("maglev_lb_config", maglev_lb_config)
    common = m.nested("common_lb_config", common_lb_config) or {}
    policy = m.enum("lb_policy", LB_POLICIES)
    policy_config = policy_slow_start.get(policy or "ROUND_ROBIN")
    slow = policy_config and policy_config.nested("slow_start_config", slow_start_config)
    if common.get("locality_weighted") and policy in ("RING_HASH", "MAGLEV"):
        m.at("common_lb_config").fail(f"locality_weighted_lb_config with {policy} is {NOT_SUPPORTED}")
    protocol = {**(m.nested("upstream_http_protocol_options", request_server_names) or {}),
                **_deprecated_http_options(m),
                **(m.nested("typed_extension_protocol_options", typed_extension_protocol_options) or {})}
    if m.has("http2_protocol_options") and m.has("typed_extension_protocol_options"):
        m.at("http2_protocol_options").fail(   # as Envoy: the two ways cannot be mixed
            "cannot be set with typed_extension_protocol_options; set its "
            "explicit_http_config.http2_protocol_options instead")
    _cluster_max_requests(m, protocol)
    if protocol.get("http2_options") is not None:
        _refuse_per_request_pools(m, protocol)
    checks = health_checks(m)
    outliers = m.nested("outlier_detection", outlier_detection)
    original_dst = original_dst_fields(m, kind, policy)
    eds = _eds(m, kind)
    parsed = Cluster(
        name=m.string("name", required=True),
        **present(alt_stat_name=m.string("alt_stat_name"),
                  filter_metadata=m.nested("metadata", filter_metadata),
                  type=kind,
                  connect_timeout=connect_timeout,
                  lb_policy=policy,
                  endpoints=endpoints if kind != "EDS" else None,
                  eds=eds,
                  dns_refresh_rate=dns_refresh_rate,
                  dns_lookup_family=m.enum("dns_lookup_family", DNS_LOOKUP_FAMILIES),
                  **dns_settings(m),
                  per_connection_buffer_limit_bytes=m.uint32("per_connection_buffer_limit_bytes"),
                  choice_count=least_request and least_request.uint32("choice_count", minimum=2),
                  active_request_bias=least_request and least_request.nested("active_request_bias",
                                                                             runtime_double),
                  slow_start=slow or None,
                  transport_socket=m.nested("transport_socket", upstream_transport_socket),
                  transport_socket_matches=m.repeated("transport_socket_matches", transport_socket_match),
                  health_checks=checks,
                  maglev_table_size=maglev_table_size,
                  **common,
                  **ring,
                  outlier_detection=outliers,
                  upstream_bind_config=m.nested("upstream_bind_config", upstream_bind_config),
                  **original_dst, **limits, **protocol))
    if parsed.http2_options is not None and any(
            isinstance(socket, UpstreamProxyProtocol)
            for socket in (parsed.transport_socket,
                           *(match.transport_socket for match in parsed.transport_socket_matches))):
        m.at("transport_socket").fail(    # a PROXY header per downstream connection: per-request pools
            f"upstream_proxy_protocol with HTTP/2 upstreams is {NOT_SUPPORTED}")
    if parsed.auto_http and not isinstance(parsed.transport_socket, UpstreamTlsContext):
        # auto_config chooses by ALPN: Envoy 1.40's check and words (matches do not count)
        m.at("typed_extension_protocol_options").fail(
            f"ALPN configured for cluster {parsed.name} which has a non-ALPN transport socket")
    return parsed


def filter_metadata(node: Node) -> dict | None:
    """A cluster's ``metadata``: its filter_metadata, a Struct per namespace."""
    m = node.message(METADATA)
    if m is None or not m.has("filter_metadata"):
        return None
    namespaces = m.at("filter_metadata")
    if not isinstance(namespaces.value, dict):
        return namespaces.fail("expected a mapping")
    for name, value in namespaces.value.items():
        struct(namespaces.child(name, value))
    return dict(namespaces.value)


def _eds(m, kind) -> Eds | None:
    """An EDS cluster's source; its load_assignment, if any, is ignored (EDS sends the hosts)."""
    config = m.nested("eds_cluster_config", lambda n: eds_cluster_config(n, m.string("name", "")))
    if kind != "EDS":
        return None
    if not m.has("eds_cluster_config"):
        m.at("eds_cluster_config").fail("cannot create an EDS cluster without an EDS config")
    return config


def _deprecated_http_options(m) -> dict:
    """The cluster-level http_protocol_options, http2_protocol_options and
    common_http_protocol_options: validated always, used only without
    typed_extension_protocol_options (Envoy 1.40 then ignores them)."""
    if m.has("http_protocol_options") and m.has("http2_protocol_options"):
        m.node.fail("cluster: Both HTTP1 and HTTP2 options may only be configured with "
                    "non-default 'protocol_selection' values")
    found = {**(m.nested("http2_protocol_options", legacy_http2_options) or {}),
             **(m.nested("common_http_protocol_options", upstream_common_options) or {})}
    if m.nested("http_protocol_options", http1_enable_trailers):
        found["http1_enable_trailers"] = True
    if m.has("typed_extension_protocol_options"):
        return {name: value for name, value in found.items() if name == "http2_options"}
    return found


def _cluster_max_requests(m, protocol) -> None:
    """The deprecated cluster-level max_requests_per_connection, unless the protocol options
    set it too (Envoy refuses both)."""
    value = m.uint32("max_requests_per_connection")
    if value is None:
        return
    typed = m.node.value.get("typed_extension_protocol_options")
    if isinstance(typed, dict) and any(
            isinstance(options, dict) and isinstance(options.get("common_http_protocol_options"), dict)
            and "max_requests_per_connection" in options["common_http_protocol_options"]
            for options in typed.values()):
        m.at("max_requests_per_connection").fail(
            "Only one of max_requests_per_connection from Cluster or HttpProtocolOptions can be "
            "specified")
    else:
        protocol["max_requests_per_connection"] = value


def _refuse_per_request_pools(m, protocol) -> None:
    """HTTP/2 upstream connections are pooled per host only: what asks for a connection of a
    request's or a downstream connection's own is refused with them."""
    for name in ("auto_sni", "auto_san_validation"):
        if protocol.get(name):
            m.at("typed_extension_protocol_options").fail(
                f"upstream_http_protocol_options.{name} with HTTP/2 upstreams is {NOT_SUPPORTED}")


def circuit_breakers(node: Node) -> dict | None:
    """The thresholds of the DEFAULT priority (as Cluster keyword arguments) and of the HIGH one
    (``high_thresholds``). As in Envoy, the first threshold of a priority is its own; later ones
    of the same priority are validated and ignored."""
    m = node.message(CIRCUIT_BREAKERS)
    if m is None:
        return None
    found = {}
    for item in m.items("thresholds"):
        limits = item.message(THRESHOLDS)
        if limits is None:
            continue
        priority = limits.enum("priority", ROUTING_PRIORITIES) or "DEFAULT"
        parsed = _thresholds(limits)
        if priority == "HIGH":
            found.setdefault("high_thresholds", Thresholds(**parsed))
        elif "breakers_configured" not in found:
            found.update(parsed)
    return found or None


def _thresholds(limits) -> dict:
    found = {name: limits.uint32(name)
             for name in ("max_connections", "max_pending_requests", "max_requests", "max_retries")}
    found["retry_budget"] = limits.nested("retry_budget", retry_budget)
    found["track_remaining"] = limits.boolean("track_remaining")
    found["breakers_configured"] = True
    return present(**found)


def retry_budget(node: Node) -> RetryBudget | None:
    m = node.message(RETRY_BUDGET)
    if m is None:
        return None
    percent = m.nested("budget_percent", percent_value)
    return RetryBudget(**present(budget_percent=percent,
                                 min_retry_concurrency=m.uint32("min_retry_concurrency")))


def ring_hash_lb_config(node: Node) -> dict | None:
    m = node.message(RING_HASH_LB_CONFIG)
    if m is None:
        return None
    found = present(minimum_ring_size=m.uint32("minimum_ring_size", maximum=MAX_RING_SIZE),
                    maximum_ring_size=m.uint32("maximum_ring_size", maximum=MAX_RING_SIZE),
                    hash_function=m.enum("hash_function", HASH_FUNCTIONS))
    low, high = found.get("minimum_ring_size", 1024), found.get("maximum_ring_size", MAX_RING_SIZE)
    if low > high:
        m.node.fail(f"ring hash: minimum_ring_size ({low}) > maximum_ring_size ({high})")
    return found


def runtime_double(node: Node) -> float | None:
    """A RuntimeDouble's default_value (hotproxy has no runtime layer that could override it);
    the active_request_bias must not be negative."""
    m = node.message(RUNTIME_DOUBLE)
    if m is None:
        return None
    m.string("runtime_key")     # Envoy 1.40 accepts a RuntimeDouble without one
    value = m.nested("default_value", lambda n: n.double())
    if value is not None and value < 0:
        m.at("default_value").fail(f"must be at least 0, got {value:g}")
        return None
    return value if value is not None else 0.0


def slow_start_config(node: Node) -> SlowStart | None:
    """None when the window is absent or zero: Envoy then applies no slow start."""
    m = node.message(SLOW_START_CONFIG)
    if m is None:
        return None
    window = m.duration("slow_start_window")
    aggression = m.nested("aggression", _aggression)
    percent = m.nested("min_weight_percent", percent_value)
    if not window:
        return None
    return SlowStart(window, **present(aggression=aggression, min_weight_percent=percent))


def _aggression(node: Node) -> float | None:
    """A RuntimeDouble's default_value; Envoy 1.40 accepts it without a runtime_key and with any
    value, and at run time takes one that is not above 0 as 1.0 (lb/slow_start.py does too)."""
    m = node.message(RUNTIME_DOUBLE)
    if m is None:
        return None
    m.string("runtime_key")
    return m.nested("default_value", lambda n: n.double())


def common_lb_config(node: Node) -> dict | None:
    """The healthy_panic_threshold (rounded as Envoy rounds it) and whether localities are
    weighted, as Cluster keyword arguments."""
    m = node.message(COMMON_LB_CONFIG)
    if m is None:
        return None
    percent = m.nested("healthy_panic_threshold", percent_value)
    weighted = m.nested("locality_weighted_lb_config", lambda n: n.message(Fields("")) is not None)
    return present(healthy_panic_threshold=None if percent is None else int(percent + 0.5),
                   locality_weighted=weighted)


def maglev_lb_config(node: Node) -> int | None:
    m = node.message(MAGLEV_LB_CONFIG)
    if m is None:
        return None
    size = m.uint32("table_size", maximum=MAX_MAGLEV_TABLE_SIZE)
    if size is not None and not _is_prime(size):
        m.at("table_size").fail("The table size of maglev must be prime number")
        return None
    return size


def _is_prime(number: int) -> bool:
    if number < 2:
        return False
    divisor = 2
    while divisor * divisor <= number:
        if number % divisor == 0:
            return False
        divisor += 1
    return True


def load_assignment(node: Node, ip_only: bool) -> tuple[LocalityLbEndpoints, ...] | None:
    m = node.message(CLUSTER_LOAD_ASSIGNMENT)
    if m is None:
        return None
    m.string("cluster_name", required=True)
    return m.repeated("endpoints", lambda n: locality_lb_endpoints(n, ip_only))


def locality_lb_endpoints(node: Node, ip_only: bool) -> LocalityLbEndpoints | None:
    m = node.message(LOCALITY_LB_ENDPOINTS)
    if m is None:
        return None
    priority = m.uint32("priority", maximum=128)
    return LocalityLbEndpoints(
        lb_endpoints=m.repeated("lb_endpoints", lambda n: lb_endpoint(n, ip_only)),
        load_balancing_weight=m.uint32("load_balancing_weight", minimum=1),
        socket_match_labels=m.nested("metadata", socket_match_labels),
        **present(priority=priority, locality=m.nested("locality", locality)))


def locality(node: Node) -> tuple[str, str, str] | None:
    m = node.message(LOCALITY)
    if m is None:
        return None
    return m.string("region", ""), m.string("zone", ""), m.string("sub_zone", "")


def lb_endpoint(node: Node, ip_only: bool) -> LbEndpoint | None:
    m = node.message(LB_ENDPOINT)
    if m is None:
        return None
    endpoint = m.nested("endpoint", lambda n: n.message(ENDPOINT), required=True)
    socket_address = endpoint and endpoint.nested(
        "address", lambda n: address(n, ip_only), required=True)
    health_check = endpoint and endpoint.nested("health_check_config", endpoint_health_check_config)
    hostname = endpoint and endpoint.string("hostname")
    weight = m.uint32("load_balancing_weight", minimum=1)
    labels = m.nested("metadata", socket_match_labels)
    if socket_address is None:
        return None
    return LbEndpoint(address=socket_address, socket_match_labels=labels,
                      **present(load_balancing_weight=weight, health_check=health_check,
                                hostname=hostname,
                                health_status=m.enum("health_status", HEALTH_STATUSES)))
