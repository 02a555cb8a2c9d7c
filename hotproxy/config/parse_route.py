"""Parser for RouteConfiguration (envoy.config.route.v3) into route.py's dataclasses."""
from __future__ import annotations

import base64
import binascii
import contextvars
import dataclasses
import re

from .fields import UINT32_MAX, Enum, Fields, Node, parse_each, present
from .max_stream_duration import max_stream_duration
from .parse_core import (HEADER_MUTATIONS, header_matcher, header_mutations,
                         query_parameter_matcher, regex)
from .parse_hash_policy import hash_policies
from .parse_http_filters import per_filter_configs
from .parse_upgrade import route_upgrade_configs
from .parse_mirror import mirror_policy
from .parse_runtime import DENOMINATOR, FRACTIONAL_PERCENT
from .parse_rate_limit import rate_limit
from .parse_retry import retry_policy
from .parse_runtime import runtime_fractional_percent
from .parse_tracing import decorator, route_tracing
from .route import (DirectResponseAction, HedgePolicy, RedirectAction, RegexRewrite, Route, RouteAction,
                    RouteConfiguration, RouteMatch, VirtualHost, WeightedCluster)

ROUTE_CONFIGURATION = Fields(
    "name virtual_hosts validate_clusters max_direct_response_body_size_bytes "
    "ignore_port_in_host_matching " + HEADER_MUTATIONS,
    unsupported="vhds internal_only_headers most_specific_header_mutations_wins "
                "cluster_specifier_plugins request_mirror_policies vhost_header "
                "ignore_path_parameters_in_path_matching typed_per_filter_config metadata")
PER_FILTER = "typed_per_filter_config "
VIRTUAL_HOST = Fields(
    "name domains routes retry_policy hedge_policy include_request_attempt_count rate_limits "
    "include_attempt_count_in_response per_request_buffer_limit_bytes " + PER_FILTER
    + HEADER_MUTATIONS,
    unsupported="matcher require_tls virtual_clusters cors "
                "retry_policy_typed_config include_is_timeout_retry_header "
                "request_body_buffer_limit request_mirror_policies metadata")
ROUTE = Fields(
    "name match route redirect direct_response per_request_buffer_limit_bytes decorator tracing "
    + PER_FILTER
    + HEADER_MUTATIONS,
    unsupported="filter_action non_forwarding_action metadata "
                "stat_prefix request_body_buffer_limit")
ROUTE_MATCH = Fields(
    "prefix path safe_regex path_separated_prefix connect_matcher case_sensitive headers "
    "query_parameters grpc runtime_fraction",
    unsupported="path_match_policy cookies tls_context dynamic_metadata filter_state")
CONNECT_MATCHER = Fields("")
ROUTE_ACTION = Fields(
    "cluster cluster_header weighted_clusters prefix_rewrite regex_rewrite host_rewrite_literal "
    "auto_host_rewrite timeout idle_timeout retry_policy hash_policy request_mirror_policies "
    "rate_limits include_vh_rate_limits priority hedge_policy upgrade_configs "
    "max_stream_duration max_grpc_timeout grpc_timeout_offset",
    unsupported="cluster_specifier_plugin inline_cluster_specifier_plugin "
                "cluster_not_found_response_code metadata_match path_rewrite_policy path_rewrite "
                "host_rewrite_header host_rewrite_path_regex host_rewrite append_x_forwarded_host "
                "flush_timeout early_data_policy retry_policy_typed_config "
                "cors "
                "internal_redirect_policy internal_redirect_action max_internal_redirects")
HEDGE_POLICY = Fields("initial_requests additional_request_chance hedge_on_per_try_timeout")
#: RouteAction.priority (envoy.config.core.v3.RoutingPriority)
ROUTING_PRIORITIES = Enum("DEFAULT HIGH")
WEIGHTED_CLUSTERS = Fields("clusters total_weight",
                           unsupported="runtime_key_prefix header_name use_hash_policy")
CLUSTER_WEIGHT = Fields(
    "name weight " + PER_FILTER + HEADER_MUTATIONS,
    unsupported="cluster_header metadata_match host_rewrite_literal")
REGEX_MATCH_AND_SUBSTITUTE = Fields("pattern substitution")
REDIRECT_ACTION = Fields("https_redirect scheme_redirect host_redirect port_redirect "
                         "path_redirect prefix_rewrite regex_rewrite response_code strip_query")
DIRECT_RESPONSE_ACTION = Fields("status body", unsupported="body_format")
DATA_SOURCE = Fields("inline_string inline_bytes",
                     unsupported="filename environment_variable watched_directory")

REDIRECT_CODES = {"MOVED_PERMANENTLY": 301, "FOUND": 302, "SEE_OTHER": 303,
                  "TEMPORARY_REDIRECT": 307, "PERMANENT_REDIRECT": 308}
REDIRECT_RESPONSE_CODES = Enum(" ".join(REDIRECT_CODES))
# Envoy's default max_direct_response_body_size_bytes.
MAX_DIRECT_RESPONSE_BODY = 4096
# Envoy's proto rule for path_separated_prefix: no '?' or '#', no trailing '/'.
_PATH_SEPARATED_PREFIX = re.compile(r"[^?#]+[^?#/]")


def route_configuration(node: Node) -> RouteConfiguration | None:
    m = node.message(ROUTE_CONFIGURATION)
    if m is None:
        return None
    domain_owners = {}       # lower-cased domain → the virtual host that has it
    validate_clusters = m.boolean("validate_clusters")
    body_limit = m.uint32("max_direct_response_body_size_bytes")
    references_before = len(node.ctx.cluster_refs)
    token = _body_limit.set(MAX_DIRECT_RESPONSE_BODY if body_limit is None else body_limit)
    try:
        virtual_hosts = m.repeated("virtual_hosts", lambda n: virtual_host(n, domain_owners))
    finally:
        _body_limit.reset(token)
    if validate_clusters is False:
        # Envoy resolves the clusters when a request is routed: an unknown one answers 503
        del node.ctx.cluster_refs[references_before:]
    return RouteConfiguration(
        **present(name=m.string("name"),
                  ignore_port_in_host_matching=m.boolean("ignore_port_in_host_matching"),
                  validate_clusters=validate_clusters),
        virtual_hosts=virtual_hosts,
        **header_mutations(m))


#: the max_direct_response_body_size_bytes of the route configuration being parsed (xDS
#: resources are parsed on more than one thread)
_body_limit = contextvars.ContextVar("max_direct_response_body_size_bytes",
                                     default=MAX_DIRECT_RESPONSE_BODY)


def virtual_host(node: Node, domain_owners: dict) -> VirtualHost | None:
    m = node.message(VIRTUAL_HOST)
    if m is None:
        return None
    name = m.string("name", required=True)
    domain_nodes = m.items("domains")
    if not domain_nodes:
        m.at("domains").fail("at least one domain is required")
    routes = m.repeated("routes", route)
    hedge = m.nested("hedge_policy", hedge_policy)
    if hedge is not None:       # the virtual host's hedge policy, for routes without their own
        routes = tuple(_with_hedge_policy(r, hedge) for r in routes)
    return VirtualHost(name=name,
                       domains=parse_each(domain_nodes, lambda n: domain(n, name, domain_owners)),
                       routes=routes,
                       **present(retry_policy=m.nested("retry_policy", retry_policy),
                                 hedge_policy=hedge,
                                 include_request_attempt_count=m.boolean(
                                     "include_request_attempt_count"),
                                 include_attempt_count_in_response=m.boolean(
                                     "include_attempt_count_in_response"),
                                 per_request_buffer_limit_bytes=m.uint32(
                                     "per_request_buffer_limit_bytes")),
                       rate_limits=m.repeated("rate_limits", rate_limit),
                       typed_per_filter_config=per_filter_configs(m),
                       **header_mutations(m))


def domain(node: Node, virtual_host_name: str, owners: dict) -> str | None:
    """A domain of a virtual host. Envoy matches '*' as a whole, suffix or prefix wildcard
    and lets each domain select one virtual host only."""
    value = node.string(http_safe=True)
    if value is None:
        return None
    if value.count("*") > 1 or "*" in value[1:-1]:
        node.fail(f"invalid domain '{value}': one '*' wildcard at most, at the start or the end")
    key = value.lower()
    if key in owners:
        node.fail(f"duplicate domain '{value}' (already in virtual host '{owners[key]}')")
    owners.setdefault(key, virtual_host_name)
    return value


def route(node: Node) -> Route | None:
    m = node.message(ROUTE)
    if m is None:
        return None
    m.one_of("route", "redirect", "direct_response")
    return Route(match=m.nested("match", route_match, required=True),
                 **present(name=m.string("name")),
                 route=m.nested("route", route_action),
                 redirect=m.nested("redirect", redirect_action),
                 direct_response=m.nested("direct_response", direct_response_action),
                 **present(per_request_buffer_limit_bytes=m.uint32(
                     "per_request_buffer_limit_bytes")),
                 typed_per_filter_config=per_filter_configs(m),
                 decorator=m.nested("decorator", decorator),
                 tracing=m.nested("tracing", route_tracing),
                 **header_mutations(m))


def route_match(node: Node) -> RouteMatch | None:
    m = node.message(ROUTE_MATCH)
    if m is None:
        return None
    kind = m.one_of("prefix", "path", "safe_regex", "path_separated_prefix", "connect_matcher")
    if kind == "safe_regex":
        value = m.nested(kind, regex)
    elif kind == "connect_matcher":
        m.at(kind).message(CONNECT_MATCHER)
        kind, value = "connect", ""
    else:
        value = kind and m.string(kind)
    if kind == "path_separated_prefix" and value is not None \
            and not _PATH_SEPARATED_PREFIX.fullmatch(value):
        m.at(kind).fail(f"invalid path_separated_prefix '{value}': "
                        "it must not end with '/' nor contain '?' or '#'")
    return RouteMatch(path_kind=kind, path_value=value,
                      **present(case_sensitive=m.boolean("case_sensitive")),
                      headers=m.repeated("headers", header_matcher),
                      query_parameters=m.repeated("query_parameters", query_parameter_matcher),
                      grpc=m.has("grpc"),
                      runtime_fraction=m.nested("runtime_fraction", runtime_fractional_percent))


def route_action(node: Node) -> RouteAction | None:
    m = node.message(ROUTE_ACTION)
    if m is None:
        return None
    m.one_of("cluster", "weighted_clusters", "cluster_header")
    m.one_of("prefix_rewrite", "regex_rewrite", required=False)
    m.one_of("host_rewrite_literal", "auto_host_rewrite", required=False)
    cluster = m.string("cluster", non_empty=True)
    if cluster:
        m.at("cluster").refers_to_cluster(cluster)
    cluster_header = m.string("cluster_header", non_empty=True, http_safe=True)
    return RouteAction(**present(
        cluster=cluster,
        weighted_clusters=m.nested("weighted_clusters", weighted_clusters),
        cluster_header=cluster_header and cluster_header.lower(),
        prefix_rewrite=m.string("prefix_rewrite", http_safe=True),
        regex_rewrite=m.nested("regex_rewrite", regex_rewrite),
        host_rewrite_literal=m.string("host_rewrite_literal", http_safe=True),
        auto_host_rewrite=m.boolean("auto_host_rewrite"),
        idle_timeout=m.duration("idle_timeout"),
        retry_policy=m.nested("retry_policy", retry_policy),
        hedge_policy=m.nested("hedge_policy", hedge_policy),
        hash_policy=m.nested("hash_policy", lambda n: hash_policies(n, regex_rewrite)),
        request_mirror_policies=m.repeated("request_mirror_policies", mirror_policy) or None,
        rate_limits=m.repeated("rate_limits", rate_limit) or None,
        include_vh_rate_limits=m.boolean("include_vh_rate_limits"),
        priority=m.enum("priority", ROUTING_PRIORITIES),
        upgrade_configs=m.nested("upgrade_configs", route_upgrade_configs),
        **_timeouts(m)))


def _timeouts(m) -> dict:
    """The route timeout and the stream's limits. With max_stream_duration set (even empty),
    Envoy ignores the route ``timeout`` and the deprecated max_grpc_timeout / grpc_timeout_offset
    (probed: the Envoy 1.40 binary lets such a route's request outlast its timeout)."""
    timeout = m.duration("timeout")
    grpc_max = m.duration("max_grpc_timeout")
    grpc_offset = m.duration("grpc_timeout_offset")
    limits = m.nested("max_stream_duration", max_stream_duration)
    if limits is not None:
        return {"timeout": 0.0, "max_stream_duration": limits}
    found = {"timeout": timeout}
    if grpc_max is not None:
        found.update(grpc_timeout_max=grpc_max, grpc_timeout_offset=grpc_offset or 0.0)
    return {name: value for name, value in found.items() if value is not None}


def hedge_policy(node: Node) -> HedgePolicy | None:
    """route.v3.HedgePolicy. Envoy 1.40 validates initial_requests (at least 1) and
    additional_request_chance but acts on neither: hotproxy reads them the same way."""
    m = node.message(HEDGE_POLICY)
    if m is None:
        return None
    initial = m.uint32("initial_requests", minimum=1)
    if m.has("additional_request_chance"):
        chance = m.at("additional_request_chance").message(FRACTIONAL_PERCENT)
        if chance is not None:
            chance.uint32("numerator")
            chance.enum("denominator", DENOMINATOR)
    return HedgePolicy(**present(hedge_on_per_try_timeout=m.boolean("hedge_on_per_try_timeout"),
                                 initial_requests=initial))


def _with_hedge_policy(route_: Route, hedge: HedgePolicy) -> Route:
    action = route_.route
    if action is None or action.hedge_policy is not None:
        return route_
    return dataclasses.replace(route_, route=dataclasses.replace(action, hedge_policy=hedge))


def weighted_clusters(node: Node) -> tuple[WeightedCluster, ...] | None:
    m = node.message(WEIGHTED_CLUSTERS)
    if m is None:
        return None
    cluster_nodes = m.items("clusters")
    clusters = parse_each(cluster_nodes, cluster_weight)
    total_weight = m.uint32("total_weight")
    if not cluster_nodes:
        m.at("clusters").fail("at least one cluster is required")
    elif len(clusters) == len(cluster_nodes):
        total = sum(cluster.weight for cluster in clusters)
        if total == 0:
            m.at("clusters").fail("the sum of the weights must be greater than 0")
        elif total > UINT32_MAX:
            m.at("clusters").fail(f"the sum of the weights must not exceed {UINT32_MAX}")
        if total_weight is not None and total_weight != total:
            m.at("total_weight").fail(
                f"total_weight {total_weight} is not the sum of the weights ({total})")
    return clusters


def cluster_weight(node: Node) -> WeightedCluster | None:
    m = node.message(CLUSTER_WEIGHT)
    if m is None:
        return None
    name = m.string("name", required=True)
    if name:
        m.at("name").refers_to_cluster(name)
    weight = m.uint32("weight", required=True)
    mutations = header_mutations(m)
    per_filter = per_filter_configs(m)
    if name is None or weight is None:
        return None
    return WeightedCluster(name=name, weight=weight, typed_per_filter_config=per_filter, **mutations)


def regex_rewrite(node: Node) -> RegexRewrite | None:
    m = node.message(REGEX_MATCH_AND_SUBSTITUTE)
    if m is None:
        return None
    pattern = m.nested("pattern", regex, required=True)
    substitution = m.string("substitution", "", http_safe=True)
    if pattern is None:
        return None
    _check_substitution(m.at("substitution"), pattern, substitution)
    return RegexRewrite(pattern=pattern, substitution=substitution)


def _check_substitution(node: Node, pattern: str, substitution: str) -> None:
    """Expanding the substitution against an empty match with the pattern's groups makes Python
    check it now (group numbers and names, escapes) instead of on the first request."""
    compiled = re.compile(pattern)
    names = {number: name for name, number in compiled.groupindex.items()}
    groups = "".join(f"(?P<{names[number]}>)" if number in names else "()"
                     for number in range(1, compiled.groups + 1))
    try:
        re.fullmatch(groups, "").expand(substitution)
    except (re.error, IndexError) as error:
        node.fail(f"invalid substitution '{substitution}': {error}")


def redirect_action(node: Node) -> RedirectAction | None:
    m = node.message(REDIRECT_ACTION)
    if m is None:
        return None
    m.one_of("https_redirect", "scheme_redirect", required=False)
    m.one_of("path_redirect", "prefix_rewrite", "regex_rewrite", required=False)
    code = m.enum("response_code", REDIRECT_RESPONSE_CODES)
    return RedirectAction(**present(
        scheme_redirect=m.string("scheme_redirect"),
        https_redirect=m.boolean("https_redirect"),
        host_redirect=m.string("host_redirect", http_safe=True),
        port_redirect=m.uint32("port_redirect"),
        path_redirect=m.string("path_redirect", http_safe=True),
        prefix_rewrite=m.string("prefix_rewrite", http_safe=True),
        regex_rewrite=m.nested("regex_rewrite", regex_rewrite),
        response_code=code and REDIRECT_CODES[code],
        strip_query=m.boolean("strip_query")))


def direct_response_action(node: Node) -> DirectResponseAction | None:
    m = node.message(DIRECT_RESPONSE_ACTION)
    if m is None:
        return None
    return DirectResponseAction(status=m.uint32("status", required=True, minimum=200, maximum=599),
                                body=m.nested("body", data_source))


def data_source(node: Node) -> bytes | None:
    m = node.message(DATA_SOURCE)
    if m is None:
        return None
    kind = m.one_of("inline_string", "inline_bytes")
    if kind == "inline_string":
        text = m.string(kind)
        body = None if text is None else text.encode()
    else:
        body = kind and _base64(m.at(kind))
    limit = _body_limit.get()
    if body is not None and len(body) > limit:
        maximum = ("Envoy's maximum" if limit == MAX_DIRECT_RESPONSE_BODY
                   else "max_direct_response_body_size_bytes")
        node.fail(f"the body is {len(body)} bytes; {maximum} is {limit}")
        return None
    return body


def _base64(node: Node) -> bytes | None:
    """proto3 JSON bytes: standard or URL-safe base64, padding optional."""
    text = node.string()
    if text is None:
        return None
    standard = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        node.fail(f"invalid base64 '{text}'")
        return None
