"""Parser for the Bootstrap (envoy.config.bootstrap.v3), and the checks that span resources:
unique listener names and addresses, unique cluster names, and cluster references."""
from __future__ import annotations

import dataclasses
import ipaddress
import uuid
from collections import Counter

from ..errors import ConfigError
from .accesslog import AccessLog
from .bootstrap import Admin, Bootstrap
from .http2_route_checks import http2_route_problems
from .fields import Context, Fields, Node, StructFields, present
from .trees import text_problems
from .parse_accesslog import access_logs
from .parse_cluster import cluster, locality
from .parse_core import address, is_ip
from .parse_listener import listener
from .parse_tls import secret
from .parse_overload import overload_manager
from .parse_runtime import layered_runtime
from .parse_stats import stats_config, stats_sinks
from .parse_xds import bootstrap_source_problems, dynamic_resources

BOOTSTRAP = Fields(
    "node static_resources admin stats_flush_interval stats_config stats_sinks "
    "overload_manager dynamic_resources layered_runtime",
    unsupported="node_context_params cluster_manager hds_config flags_path "
                "deferred_stat_options stats_flush_on_admin "
                "stats_eviction_interval watchdog watchdogs tracing "
                "enable_dispatcher_stats header_prefix "
                "stats_server_version_override use_tcp_for_dns_lookups dns_resolution_config "
                "typed_dns_resolver_config bootstrap_extensions fatal_actions config_sources "
                "default_config_source default_socket_interface certificate_provider_instances "
                "inline_headers perf_tracing_file_path default_regex_engine "
                "xds_delegate_extension xds_config_tracker_extension listener_manager "
                "application_log_config grpc_async_client_manager_config "
                "memory_allocator_manager")
STATIC_RESOURCES = Fields("listeners clusters secrets")
NODE = Fields("id cluster metadata locality",
              unsupported="dynamic_parameters user_agent_name "
                          "user_agent_version user_agent_build_version extensions "
                          "client_features listening_addresses")
# ignore_global_conn_limit: hotproxy's admin interface (in the arbiter) is never counted by the
# global connection limit, which is what true asks for; false is documented as a difference
ADMIN = Fields("address access_log_path access_log ignore_global_conn_limit",
               unsupported="profile_path socket_options allow_paths")
_LISTENER_NAMESPACE = uuid.UUID("5d0c1e8a-47f3-4d0e-9a51-3c1b2f6e7a90")


def parse_bootstrap(tree: dict, problems=(), sds_secrets=None) -> Bootstrap:
    """The Bootstrap that ``tree`` (a YAML/JSON document as Python values) describes. Raises
    ConfigError listing every problem, including ``problems`` already found in reading it.
    ``sds_secrets``: the secrets SDS sent, by name, parsed (config/resources.py)."""
    ctx = Context(problems=list(problems), sds_secrets=sds_secrets or {})
    root = Node(tree, "", ctx)
    if tree is None:
        root.fail("the configuration is empty")
        raise ConfigError(ctx.problems)
    not_text = text_problems(tree)
    if not_text:
        raise ConfigError([*ctx.problems, *not_text])
    bootstrap = _bootstrap(root)
    if bootstrap is not None:
        _check_cluster_references(ctx, bootstrap)
        ctx.problems.extend(http2_route_problems(bootstrap))
        ctx.problems.extend(bootstrap_source_problems(bootstrap))
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return bootstrap


def unknown_field_paths(tree) -> list[str]:
    """The paths of the fields in ``tree`` that Envoy's protos do not know. Other problems are
    left for ``parse_bootstrap`` to report."""
    if text_problems(tree):
        return []       # parse_bootstrap refuses the tree
    ctx = Context(unknown_fields=[])
    _bootstrap(Node(tree, "", ctx))
    return ctx.unknown_fields


def _bootstrap(node: Node) -> Bootstrap | None:
    m = node.message(BOOTSTRAP)
    if m is None:
        return None
    flush_interval = m.duration("stats_flush_interval")
    if flush_interval is not None and not 0.001 <= flush_interval < 300:
        m.at("stats_flush_interval").fail("must be at least 0.001s and less than 300s")
    resources = m.nested("static_resources", lambda n: n.message(STATIC_RESOURCES))
    envoy_node = m.nested("node", lambda n: n.message(NODE))
    node_locality = None
    if envoy_node is not None:     # sent to control planes as they are, once checked
        envoy_node.nested("metadata", lambda n: n.message(StructFields()))
        node_locality = envoy_node.nested("locality", locality)
    return Bootstrap(
        **(_static_resources(resources) if resources else {}),
        **present(admin=m.nested("admin", admin),
                  stats_flush_interval=flush_interval,
                  stats_config=m.nested("stats_config", lambda n: stats_config(n, _check_unique)),
                  stats_sinks=stats_sinks(m) or None,
                  overload_manager=m.nested("overload_manager", overload_manager),
                  layered_runtime=m.nested("layered_runtime", layered_runtime),
                  dynamic_resources=m.nested("dynamic_resources", dynamic_resources),
                  node_id=envoy_node and envoy_node.string("id"),
                  node_cluster=envoy_node and envoy_node.string("cluster"),
                  node_zone=node_locality and node_locality[1]))


def _static_resources(m) -> dict:
    _static_secrets(m.items("secrets"))      # first: TLS contexts refer to them by name
    listener_nodes, cluster_nodes = m.items("listeners"), m.items("clusters")
    listeners = _named([listener(n) for n in listener_nodes])
    clusters = [cluster(n) for n in cluster_nodes]
    _check_unique(listener_nodes, listeners, "name", lambda resource: resource.name,
                  lambda name: f"duplicate listener name '{name}'")
    _check_unique(listener_nodes, listeners, "address", _listener_address,
                  lambda shown: f"duplicate listener address {shown}")
    _check_unique(cluster_nodes, clusters, "name", lambda resource: resource.name,
                  lambda name: f"duplicate cluster name '{name}'")
    return {"listeners": tuple(filter(None, listeners)), "clusters": tuple(filter(None, clusters))}


def _static_secrets(nodes) -> None:
    for node in nodes:
        parsed = secret(node)
        if parsed is None:
            continue
        name, value = parsed
        if name in node.ctx.secrets:
            node.child("name").fail(f"duplicate secret name '{name}'")
        node.ctx.secrets[name] = value


def _named(listeners: list) -> list:
    """Envoy names a listener without a name with a random UUID. Here the UUID is derived from
    the listener's address, so that the arbiter and its workers, which each parse the config,
    name it alike, and a reload that keeps the address keeps the name."""
    named, seen = [], Counter()
    for parsed in listeners:
        if parsed is not None and not parsed.name and parsed.address is not None:
            address = f"{parsed.address.address}:{parsed.address.port}"
            seen[address] += 1
            generated = uuid.uuid5(_LISTENER_NAMESPACE, f"{address}#{seen[address]}")
            parsed = dataclasses.replace(parsed, name=str(generated))
        named.append(parsed)
    return named


def _check_unique(nodes, parsed, field, key, reason) -> None:
    """Report each resource whose ``key`` an earlier one already has, at its ``field``."""
    seen = set()
    for node, resource in zip(nodes, parsed):
        value = key(resource) if resource is not None else None
        if value is None:
            continue
        if value in seen:
            node.child(field).fail(reason(value))
        seen.add(value)


def _listener_address(listener) -> str | None:
    """``127.0.0.1:80`` or ``[::1]:80``, normalised so that equal addresses compare equal. Like
    Envoy, listeners on port 0 (a port picked by the kernel) may share an address."""
    socket_address = listener.address
    if socket_address is None or not is_ip(socket_address.address) or not socket_address.port:
        return None
    host = ipaddress.ip_address(socket_address.address)
    shown = f"[{host}]" if host.version == 6 else str(host)
    return f"{shown}:{socket_address.port}"


def admin(node: Node) -> Admin | None:
    m = node.message(ADMIN)
    if m is None:
        return None
    logs = access_logs(m, tcp=False)
    m.boolean("ignore_global_conn_limit")
    access_log_path = m.string("access_log_path")
    if access_log_path:  # the deprecated form: a file in Envoy's default format
        logs = (AccessLog("file", path=access_log_path), *logs)
    admin_address = m.nested("address", address)
    # Without an address Envoy runs no admin interface.
    if admin_address is None:
        return None
    return Admin(address=admin_address, access_log=logs)


def _check_cluster_references(ctx: Context, bootstrap: Bootstrap) -> None:
    defined = {c.name for c in bootstrap.clusters}
    for path, name in ctx.cluster_refs:
        if name not in defined:
            ctx.problems.append((path, f"cluster '{name}' is not defined in "
                                       "static_resources.clusters"))
