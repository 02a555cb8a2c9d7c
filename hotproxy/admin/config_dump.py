"""/config_dump: the configuration hotproxy runs, static and from xDS, in Envoy 1.40's ConfigDump
shape, with secrets redacted; ``?resource=``, ``?mask=``, ``?name_regex=`` and ``?include_eds`` as
Envoy reads them (config_dump_query.py).

The configs come in Envoy's order (its config tracker's keys, sorted): bootstrap, clusters,
endpoints (with ``include_eds``, when a cluster is active), listeners, scoped routes and routes
(when a listener has an HTTP connection manager: Envoy's route managers exist only then), secrets.
As Envoy's JSON printer does, an empty repeated field or string is left out.
"""
from __future__ import annotations

import time

from ..config.trees import text_tree
from .config_dump_endpoints import endpoint_config
from .config_dump_query import ADMIN, ConfigDumpError, parse_query, select

__all__ = ["ConfigDumpError", "REDACTED", "config_dump", "redact", "timestamp"]

_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
_ROUTES = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
_HCM = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager")
_HCM_NAME = "envoy.filters.network.http_connection_manager"

# Fields Envoy's protos mark sensitive (udpa.annotations.sensitive): under them a string prints
# as "[redacted]", bytes as the bytes "[redacted]" (base64 in JSON), any other value not at all.
_SECRET_KEYS = frozenset(("private_key", "password", "pkcs12", "secret", "session_ticket_keys",
                          "oauth_token", "hmac_secret", "auth_password"))
REDACTED = "[redacted]"
_REDACTED_BYTES = "W3JlZGFjdGVkXQ=="     # base64 of b"[redacted]"
_DROP = object()


def config_dump(config_text, loaded_at, dynamic=None, query=None):
    """The ConfigDump (a dict) of the serving config ``config_text`` (already validated),
    ``loaded_at`` its load time (RFC 3339, or epoch seconds). ``dynamic``: the xDS snapshot, or
    None for a static config. ``query``: the request's parameters. Raises ConfigDumpError (with
    Envoy's status and text) for a query Envoy refuses."""
    request = parse_query(query)
    return select(_configs(config_text, loaded_at, dynamic, request.matches, request.include_eds),
                  request)


def timestamp(epoch):
    """A google.protobuf.Timestamp as Envoy prints one: RFC 3339 in UTC, to the millisecond,
    without a fraction when it is zero."""
    if isinstance(epoch, str):
        return epoch
    milliseconds = round(epoch * 1_000_000) // 1000
    seconds, fraction = divmod(milliseconds, 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{fraction:03d}Z" if fraction else f"{text}Z"


def redact(value, secret=False):
    """A copy of ``value`` in which what is under a secret-bearing key is redacted as Envoy's
    MessageUtil::redact does (the "@type" of an Any under one stays)."""
    if isinstance(value, dict):
        redacted = {}
        for key, item in value.items():
            if secret and key == "@type":
                redacted[key] = item
                continue
            if secret and key == "inline_bytes" and isinstance(item, str):
                redacted[key] = _REDACTED_BYTES
                continue
            item = redact(item, secret or key in _SECRET_KEYS)
            if item is not _DROP:
                redacted[key] = item
        return redacted
    if isinstance(value, list):
        return [item for item in (redact(item, secret) for item in value) if item is not _DROP]
    if not secret:
        return value
    return REDACTED if isinstance(value, str) else _DROP


# --- the configs ---------------------------------------------------------------------------------

class _Snapshot:
    """The xDS snapshot, with every part defaulted (None: a static config)."""

    def __init__(self, dynamic):
        dynamic = dynamic or {}
        self.listeners = dynamic.get("listeners") or {}
        self.clusters = dynamic.get("clusters") or {}
        self.routes = dynamic.get("routes") or {}
        self.endpoints = dynamic.get("endpoints") or {}
        self.versions = dynamic.get("versions") or {}
        self.records = dynamic.get("resources") or {}
        self.warming = dynamic.get("warming") or {}
        self.warming_bodies = dynamic.get("warming_bodies") or {}

    def record(self, kind, name):
        """(version, last_updated as RFC 3339 or None) of a held resource."""
        version, updated = (list(self.records.get(kind, {}).get(name) or ()) + ["", None])[:2]
        return version, (timestamp(updated) if updated is not None else None)

    def state(self, kind, name, body, field):
        """{version_info, <field>: body as its Any, last_updated}, what Envoy knows of each."""
        version, updated = self.record(kind, name)
        state = {}
        if version:
            state["version_info"] = version
        if body is not None:
            state[field] = _typed(_TYPES[field], body)
        if updated is not None:
            state["last_updated"] = updated
        return state

    def warming_names(self, kind):
        return list(self.warming.get(kind) or ())

    def warming_body(self, kind, name):
        return (self.warming_bodies.get(kind) or {}).get(name)


def _configs(config_text, loaded_at, dynamic, matches, include_eds):
    tree, _problems = text_tree(config_text)
    tree = tree if isinstance(tree, dict) else {}
    snapshot = _Snapshot(dynamic)
    loaded_at = timestamp(loaded_at)
    resources = tree.get("static_resources") or {}
    static_listeners = [listener for listener in resources.get("listeners") or ()
                        if listener.get("name") not in snapshot.listeners]
    static_clusters = [cluster for cluster in resources.get("clusters") or ()
                       if cluster.get("name") not in snapshot.clusters]
    configs = [_dump("BootstrapConfigDump", bootstrap=redact(_bootstrap(tree, static_listeners,
                                                                        static_clusters)),
                     last_updated=loaded_at),
               _clusters(static_clusters, snapshot, loaded_at, matches)]
    if include_eds and (static_clusters or snapshot.clusters):
        configs.append(_endpoints(static_clusters, snapshot, matches))
    configs.append(_listeners(static_listeners, snapshot, loaded_at, matches))
    managers = _managers(static_listeners, snapshot, loaded_at)
    if managers:
        configs.append(_dump("ScopedRoutesConfigDump"))
        configs.append(_routes(managers, snapshot, matches))
    configs.append(_dump("SecretsConfigDump"))
    return configs


def _bootstrap(tree, static_listeners, static_clusters):
    """The bootstrap: the serving config less the dynamic listeners and clusters composed into
    its static resources."""
    resources = tree.get("static_resources")
    if not isinstance(resources, dict):
        return tree
    kept = dict(resources)
    for key, static in (("listeners", static_listeners), ("clusters", static_clusters)):
        if key in kept and len(kept[key] or ()) != len(static):
            if static:
                kept[key] = static
            else:
                del kept[key]
    bootstrap = dict(tree)
    if kept or not resources:
        bootstrap["static_resources"] = kept
    else:
        del bootstrap["static_resources"]
    return bootstrap


def _clusters(static_clusters, snapshot, loaded_at, matches):
    """Envoy's cluster manager lists each kind by name."""
    return _dump(
        "ClustersConfigDump", version_info=snapshot.versions.get("clusters"),
        static_clusters=[{"cluster": _typed(_CLUSTER, cluster), "last_updated": loaded_at}
                         for cluster in sorted(static_clusters, key=_name)
                         if matches(cluster.get("name", ""))],
        dynamic_active_clusters=[snapshot.state("clusters", name, snapshot.clusters[name], "cluster")
                                 for name in sorted(snapshot.clusters) if matches(name)],
        dynamic_warming_clusters=[
            snapshot.state("clusters", name, snapshot.warming_body("clusters", name), "cluster")
            for name in sorted(snapshot.warming_names("clusters")) if matches(name)])


def _listeners(static_listeners, snapshot, loaded_at, matches):
    """Static listeners in config order; dynamic ones as they were added, an active listener
    and its warming update in one entry, then listeners that only warm."""
    warming = snapshot.warming_names("listeners")
    dynamic = []
    for name in [*snapshot.listeners, *(name for name in warming if name not in snapshot.listeners)]:
        if not matches(name):
            continue
        entry = {"name": name}
        if name in snapshot.listeners:
            entry["active_state"] = snapshot.state("listeners", name, snapshot.listeners[name],
                                                   "listener")
        if name in warming:
            entry["warming_state"] = snapshot.state("listeners", name,
                                                    snapshot.warming_body("listeners", name),
                                                    "listener")
        dynamic.append(entry)
    return _dump("ListenersConfigDump", version_info=snapshot.versions.get("listeners"),
                 static_listeners=[{"listener": _typed(_LISTENER, listener), "last_updated": loaded_at}
                                   for listener in static_listeners if matches(listener.get("name", ""))],
                 dynamic_listeners=dynamic)


def _managers(static_listeners, snapshot, loaded_at):
    """(HTTP connection manager, when its listener was added) of every listener: static, active
    and warming."""
    listeners = [(listener, loaded_at) for listener in static_listeners]
    listeners += [(body, snapshot.record("listeners", name)[1])
                  for name, body in snapshot.listeners.items()]
    listeners += [(snapshot.warming_body("listeners", name), snapshot.record("listeners", name)[1])
                  for name in snapshot.warming_names("listeners")
                  if snapshot.warming_body("listeners", name) is not None]
    managers = []
    for listener, added in listeners:
        chains = [*(listener.get("filter_chains") or ()), listener.get("default_filter_chain") or {}]
        for chain in chains:
            for network_filter in chain.get("filters") or ():
                config = network_filter.get("typed_config") or {}
                if config.get("@type", _HCM if network_filter.get("name") == _HCM_NAME else None) == _HCM:
                    managers.append((config, added))
    return managers


def _routes(managers, snapshot, matches):
    """An inline route_config is a static route config, whichever listener holds it (Envoy's
    route config provider manager keeps one per connection manager)."""
    static = []
    for manager, added in managers:
        route_config = manager.get("route_config")
        if isinstance(route_config, dict) and matches(route_config.get("name", "")):
            entry = {"route_config": _typed(_ROUTES, route_config)}
            if added is not None:
                entry["last_updated"] = added
            static.append(entry)
    return _dump("RoutesConfigDump", static_route_configs=static,
                 dynamic_route_configs=[snapshot.state("routes", name, body, "route_config")
                                        for name, body in snapshot.routes.items() if matches(name)])


def _endpoints(static_clusters, snapshot, matches):
    """Each active cluster's ClusterLoadAssignment as Envoy prints its hosts, by cluster name,
    under its EDS service name; a cluster from CDS is dynamic, whatever its type."""
    clusters = [(cluster, False) for cluster in static_clusters]
    clusters += [(body, True) for body in snapshot.clusters.values()]
    static, dynamic = [], []
    for cluster, from_xds in sorted(clusters, key=lambda pair: _name(pair[0])):
        config = endpoint_config(cluster, snapshot.endpoints)
        if matches(config["cluster_name"]):
            (dynamic if from_xds else static).append({"endpoint_config": config})
    return _dump("EndpointsConfigDump", static_endpoint_configs=static,
                 dynamic_endpoint_configs=dynamic)


# --- helpers -------------------------------------------------------------------------------------

_TYPES = {"cluster": _CLUSTER, "listener": _LISTENER, "route_config": _ROUTES}


def _dump(kind, **fields):
    """A dump message: "@type" first, then its set fields (an empty list or string is unset)."""
    return {"@type": ADMIN + kind, **{key: value for key, value in fields.items()
                                      if value not in (None, "", [])}}


def _typed(type_url, body):
    """``body`` as an Any of ``type_url``, redacted."""
    body = redact(body if isinstance(body, dict) else {})
    body.pop("@type", None)
    return {"@type": type_url, **body}


def _name(resource):
    return resource.get("name", "") if isinstance(resource, dict) else ""
