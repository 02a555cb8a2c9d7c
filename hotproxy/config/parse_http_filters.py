"""Parser for an HTTP connection manager's ``http_filters`` and for ``typed_per_filter_config``
(virtual host, route, weighted cluster): the filter entries in order, the router last."""
from __future__ import annotations

from . import http_filters as registry
from .fields import NOT_SUPPORTED, Fields, Node, typed_config
from .listener import HealthCheck, HttpFilter
from .parse_core import header_matcher

ROUTER_NAME = "envoy.filters.http.router"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HEALTH_CHECK_NAME = "envoy.filters.http.health_check"
HEALTH_CHECK_TYPE = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
FILTER_CONFIG_TYPE = "type.googleapis.com/envoy.config.route.v3.FilterConfig"

HTTP_FILTER = Fields("name typed_config is_optional disabled", unsupported="config_discovery")
HEALTH_CHECK = Fields("pass_through_mode headers",
                      unsupported="cache_time cluster_min_healthy_percentages")
ROUTER = Fields(
    "start_child_span",
    unsupported="dynamic_stats upstream_log upstream_log_options "
                "suppress_envoy_headers strict_check_headers respect_expected_rq_timeout "
                "suppress_grpc_request_failure_code_stats upstream_http_filters "
                "reject_connect_request_early_data")
FILTER_CONFIG = Fields("config is_optional disabled")


class FilterConfig:
    """A ``typed_per_filter_config`` entry wrapped in envoy.config.route.v3.FilterConfig:
    ``disabled`` turns the filter off for the route; ``config`` is the parsed config or None."""

    __slots__ = ("config", "disabled")

    def __init__(self, config, disabled):
        self.config = config
        self.disabled = disabled

    def __eq__(self, other):
        return (isinstance(other, FilterConfig) and other.config == self.config
                and other.disabled == self.disabled)

    def __hash__(self):
        return hash((self.config, self.disabled))

    def __repr__(self):
        return f"FilterConfig(config={self.config!r}, disabled={self.disabled})"


def http_filters(m) -> tuple[HttpFilter, ...]:
    """The HTTP filters in order. The router is terminal, so it must come last. Envoy 1.40
    accepts an HCM without HTTP filters and then answers no request until its stream idle timeout
    fires; hotproxy refuses that config instead."""
    nodes = m.items("http_filters")
    if not nodes:
        m.at("http_filters").fail("the router filter (envoy.filters.http.router) is required "
                                  "as the last HTTP filter")
        return ()
    filters = [http_filter(n) for n in nodes]
    for node, parsed in zip(nodes[:-1], filters):
        if parsed is not None and parsed.config is None:
            node.fail("the router filter must be the last HTTP filter")
    last = filters[-1]
    if last is not None and last.config is not None:
        nodes[-1].fail("the router filter (envoy.filters.http.router) is required "
                       "as the last HTTP filter")
    seen = set()
    for node, parsed in zip(nodes, filters):
        if parsed is not None and parsed.name in seen:
            node.child("name", parsed.name).fail(f"'{parsed.name}' names two HTTP filters: filter names must "
                                 "be unique (typed_per_filter_config refers to them by name)")
        if parsed is not None:
            seen.add(parsed.name)
    if sum(1 for f in filters if f is not None and isinstance(f.config, HealthCheck)) > 1:
        nodes[-1].fail("only one health_check filter is supported")
    return tuple(f for f in filters if f is not None and f.config is not _SKIPPED)


_SKIPPED = object()     # an optional filter hotproxy does not know: left out, as in Envoy


def http_filter(node: Node) -> HttpFilter | None:
    m = node.message(HTTP_FILTER)
    if m is None:
        return None
    name = m.string("name", required=True)
    optional = bool(m.boolean("is_optional"))
    disabled = bool(m.boolean("disabled"))
    config_node = m.at("typed_config")
    url = config_node.value.get("@type") if isinstance(config_node.value, dict) else None
    if optional and isinstance(url, str) and _parser_for(url) is None:
        return HttpFilter(name or "", _SKIPPED)
    config = m.nested("typed_config", _typed_filter_config, required=True)
    if config is None:
        return None
    if config is _ROUTER or config is _ROUTER_CHILD_SPAN:
        if disabled:
            m.at("disabled").fail("the router (the terminal filter) cannot be disabled")
        return HttpFilter(name, None, start_child_span=config is _ROUTER_CHILD_SPAN)
    return HttpFilter(name, config, disabled=disabled)


_ROUTER = object()
_ROUTER_CHILD_SPAN = object()   # the router with start_child_span (hotproxy/tracing/)


def _parser_for(url):
    if url == ROUTER_TYPE:
        return _router
    if url == HEALTH_CHECK_TYPE:
        return health_check
    return registry.parser(url)


def _typed_filter_config(node: Node):
    url = node.value.get("@type") if isinstance(node.value, dict) else None
    if isinstance(url, str) and url in registry.REFUSED:
        return node.child("@type", url).fail(registry.REFUSED[url])
    parse = _parser_for(url) if isinstance(url, str) else None
    if parse is None:
        return _unknown(node, url, [ROUTER_TYPE, HEALTH_CHECK_TYPE, *registry.FILTERS])
    return typed_config(node, {url: parse})


def _unknown(node, url, known):
    """typed_config's refusal of a type no parser takes, or "not supported" for a type that a
    filter module of hotproxy's will parse but that is not there."""
    if isinstance(url, str) and url in known:
        return node.child("@type", url).fail(f"type '{url}' is {NOT_SUPPORTED}")
    return typed_config(node, dict.fromkeys(known))


def _router(node: Node):
    m = node.message(ROUTER)
    if m is None:
        return None
    return _ROUTER_CHILD_SPAN if m.boolean("start_child_span") else _ROUTER


def health_check(node: Node) -> HealthCheck | None:
    """Only the non-pass-through mode: the proxy answers health checks itself, 200 or (after
    POST /healthcheck/fail) 503."""
    m = node.message(HEALTH_CHECK)
    if m is None:
        return None
    pass_through = m.boolean("pass_through_mode")
    if pass_through is None:
        m.at("pass_through_mode").fail("required field is missing")
    elif pass_through:
        m.at("pass_through_mode").fail(f"pass_through_mode: true is {NOT_SUPPORTED}")
    # Without headers every request is a health check, as in Envoy.
    return HealthCheck(headers=m.repeated("headers", header_matcher))


def per_filter_configs(m) -> tuple:
    """``typed_per_filter_config``: (filter name, parsed per-route config or FilterConfig)
    pairs. An entry whose type hotproxy does not know is refused unless it is marked optional."""
    node = m.at("typed_per_filter_config")
    if node.value is None:
        return ()
    if not isinstance(node.value, dict):
        node.fail("expected a mapping of filter names to typed configs")
        return ()
    configs = []
    for name, value in node.value.items():
        parsed = _per_route_entry(node.child(name, value), name)
        if parsed is not None and parsed is not _SKIPPED:
            configs.append((name, parsed))
    return tuple(configs)


def _per_route_entry(node: Node, name: str):
    url = node.value.get("@type") if isinstance(node.value, dict) else None
    if url == FILTER_CONFIG_TYPE:
        body = {key: value for key, value in node.value.items() if key != "@type"}
        m = Node(body, node.path, node.ctx).message(FILTER_CONFIG)
        if m is None:
            return None
        disabled = bool(m.boolean("disabled"))
        inner = m.at("config")
        if inner.value is None:
            if not disabled:    # Envoy's words
                node.fail(f"Empty route/virtual host per filter configuration for {name} filter")
            return FilterConfig(None, disabled)
        inner_url = inner.value.get("@type") if isinstance(inner.value, dict) else None
        if m.boolean("is_optional") and registry.parser(inner_url, per_route=True) is None:
            return FilterConfig(None, disabled) if disabled else _SKIPPED
        return FilterConfig(_per_route_config(inner), disabled)
    return _per_route_config(node)


def _per_route_config(node: Node):
    url = node.value.get("@type") if isinstance(node.value, dict) else None
    parse = registry.parser(url, per_route=True) if isinstance(url, str) else None
    if parse is None:
        return _unknown(node, url, list(registry.PER_ROUTE))
    return typed_config(node, {url: parse})
