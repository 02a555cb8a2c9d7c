"""The dynamic resources a control plane sent and hotproxy accepted, which of them are warming,
and the config they make together with the bootstrap. Sans-IO: the xDS process
(process/xds_child.py) feeds it updates and sends what it makes to the arbiter.

An update is checked before anything changes, the way a reload is: every resource on its own
(paths relative to it, for the NACK), then, for listeners and clusters, the whole bootstrap they
make with the rest, which catches what spans resources (a duplicate address, a route to a
cluster that is not there). A refused update changes nothing.

Warming, as Envoy's: a dynamic listener whose routes come from RDS is not served before its
RouteConfiguration arrives, nor an EDS cluster before its ClusterLoadAssignment, unless the
initial fetch timed out (then it is served empty: 404s, or no healthy upstream).
"""
from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass

from ..config.parse import parse_bootstrap
from ..config.resources import NAME_FIELDS, parse_resource, without_unknown_fields
from ..config.parse_xds import source_problem
from ..config.parse_xds import rtds_layers
from ..config.xds import CLUSTERS, ENDPOINTS, LISTENERS, ROUTES, RUNTIME, SECRETS
from ..errors import ConfigError

KINDS = (LISTENERS, CLUSTERS, ROUTES, ENDPOINTS, SECRETS, RUNTIME)
_INDEXED = re.compile(r"static_resources\.(listeners|clusters)\[(\d+)\](.*)")
_SINGULAR = {LISTENERS: "listener", CLUSTERS: "cluster", ROUTES: "route configuration",
             ENDPOINTS: "cluster load assignment", SECRETS: "secret", RUNTIME: "runtime"}


@dataclass
class Entry:
    body: dict              # as sent, less the fields hotproxy's protos do not know
    version: str
    last_updated: float
    parsed: object


class Catalog:
    def __init__(self, bootstrap_tree: dict, bootstrap, check_resource=None, check_bootstrap=None,
                 clock=time.time):
        """``bootstrap_tree``/``bootstrap``: the static config, as read and as parsed.
        ``check_resource(kind, parsed)`` raises ConfigError for what only compiling finds
        (regexes); ``check_bootstrap(tree)`` checks a whole config (by default, parses it)."""
        self.static_tree = bootstrap_tree
        self.bootstrap = bootstrap
        self._check_resource = check_resource or (lambda kind, parsed: None)
        self._check_bootstrap = check_bootstrap or parse_bootstrap
        self._clock = clock
        self.entries = {kind: {} for kind in KINDS}
        self.versions = {kind: "" for kind in KINDS}
        #: types that answered at least once, or whose initial fetch timed out
        self.fetched = set()
        #: (kind, name) of routes and assignments whose initial fetch timed out: served empty
        self.timed_out = set()
        self.unknown_fields = 0

    # updates

    def check(self, kind: str, bodies: dict) -> tuple[dict, str | None]:
        """``bodies``: the type's full set after the update, by name. Returns (entries to
        ``apply``, None) or ({}, the reason to NACK with)."""
        parsed, unknown = {}, 0
        held = self.entries[kind] if kind in (ROUTES, ENDPOINTS) else {}
        secrets = self.secrets()
        for name, body in bodies.items():
            kept = held.get(name)
            if kept is not None and kept.body == body:
                # state of the world resends every assignment: an unchanged one, whose reading
                # depends on nothing else, is not read again
                parsed[name] = (kept.body, kept.parsed)
                continue
            try:
                result, unknown_paths = parse_resource(kind, body, secrets)
                self._check_resource(kind, result)
            except ConfigError as error:
                return {}, _refusal(kind, name, error.problems)
            unfollowable = self._unfollowable_source(kind, result)
            if unfollowable is None and kind == ROUTES and result.validate_clusters:
                unfollowable = self._unknown_cluster(result)
            if unfollowable is not None:
                return {}, f"{_SINGULAR[kind]} '{name}': {unfollowable}"
            declared = body.get(NAME_FIELDS[kind])
            if declared != name:
                return {}, f"{_SINGULAR[kind]} '{name}': its {NAME_FIELDS[kind]} is '{declared}'"
            unknown += len(unknown_paths)
            parsed[name] = (without_unknown_fields(body, unknown_paths), result)
        if kind in (LISTENERS, CLUSTERS, SECRETS):
            reason = self._check_composed(kind, {name: body for name, (body, _) in parsed.items()},
                                          {name: result for name, (_, result) in parsed.items()})
            if reason is not None:
                return {}, reason
        self.unknown_fields += unknown
        return parsed, None

    def apply(self, kind: str, version: str, checked: dict, versions: dict | None = None) -> None:
        """Make ``checked`` (from ``check``) the type's set; ``versions``: each resource's own
        version (delta xDS), else the type's ``version``."""
        now = self._clock()
        old = self.entries[kind]
        entries = {}
        for name, (body, parsed) in checked.items():
            resource_version = (versions or {}).get(name, version)
            kept = old.get(name)
            if kept is not None and kept.body == body:
                entries[name] = kept        # unchanged: its last_updated stays
            else:
                entries[name] = Entry(body, resource_version, now, parsed)
        self.entries[kind] = entries
        self.versions[kind] = version
        self.fetched.add(kind)

    def forget_unwanted(self) -> None:
        """Drop the routes, assignments and secrets no listener or cluster names any more
        (a delta server sends no removal for what the client stopped asking for)."""
        wanted = {ROUTES: self.route_sources(), ENDPOINTS: self.service_sources(),
                  SECRETS: self.secret_sources()}
        for kind, names in wanted.items():
            self.entries[kind] = {name: entry for name, entry in self.entries[kind].items()
                                  if name in names}
        self.timed_out = {(kind, name) for kind, name in self.timed_out
                          if kind not in wanted or name in wanted[kind]}

    def fetch_timed_out(self, kind: str, names=None) -> None:
        """The initial fetch of ``kind`` (of ``names`` of it) did not answer in time."""
        self.fetched.add(kind)
        for name in names or ():
            if name not in self.entries[kind]:
                self.timed_out.add((kind, name))

    # what the data plane is given

    def route_sources(self) -> dict:
        """The RouteConfigurations to subscribe to (of static and accepted listeners): name →
        the ConfigSource their ``rds`` names."""
        return {hcm.rds.route_config_name: hcm.rds.config_source for listener in self._listeners()
                for hcm in listener.connection_managers() if hcm.rds is not None}

    def service_sources(self) -> dict:
        """The ClusterLoadAssignments to subscribe to (of static and accepted EDS clusters):
        service name → the ConfigSource of their ``eds_cluster_config``."""
        return {cluster.eds.service_name: cluster.eds.config_source for cluster in self._clusters()
                if cluster.eds is not None}

    def secret_sources(self) -> dict:
        """The secrets to subscribe to (of static and accepted listeners and clusters): name →
        the ConfigSource of the SdsSecretConfig that names it."""
        return {name: source for resource in (*self._listeners(), *self._clusters())
                for context in _tls_contexts(resource) for name, source in context.sds_secrets}

    def runtime_sources(self) -> dict:
        """The RTDS resources of the bootstrap's runtime layers: name → ConfigSource."""
        return {layer.resource_name: layer.rtds_config for layer in rtds_layers(self.bootstrap)}

    def secrets(self) -> dict:
        """The secrets SDS sent, parsed, by name (what TLS contexts are parsed with)."""
        return {name: entry.parsed[1] for name, entry in self.entries[SECRETS].items()}

    def warming(self, kind: str) -> list[str]:
        """A listener waits for its routes and its secrets; a cluster for its endpoints and its
        secrets. A secret is waited for whatever the time: without it, no handshake."""
        if kind == LISTENERS:
            return sorted(name for name, entry in self.entries[LISTENERS].items()
                          if not all(self._has(ROUTES, hcm.rds.route_config_name)
                                     for hcm in entry.parsed.connection_managers() if hcm.rds is not None)
                          or not self._has_secrets(entry.parsed))
        if kind == CLUSTERS:
            return sorted(name for name, entry in self.entries[CLUSTERS].items()
                          if entry.parsed.eds is not None
                          and not self._has(ENDPOINTS, entry.parsed.eds.service_name)
                          or not self._has_secrets(entry.parsed))
        return []

    def active(self, kind: str) -> dict:
        """The type's resources the data plane serves now, name → body."""
        warming = set(self.warming(kind))
        return {name: entry.body for name, entry in self.entries[kind].items() if name not in warming}

    def initial_done(self, subscribed: set) -> bool:
        """Whether the first generation may start: every type in ``subscribed`` answered (or
        timed out), and the static listeners' routes and static EDS clusters' assignments are
        in (or timed out)."""
        if not subscribed <= self.fetched:
            return False
        static_routes = {hcm.rds.route_config_name for listener in self.bootstrap.listeners
                         for hcm in listener.connection_managers() if hcm.rds is not None}
        static_services = {cluster.eds.service_name for cluster in self.bootstrap.clusters
                           if cluster.eds is not None}
        fetching = [name for resource in (*self.bootstrap.listeners, *self.bootstrap.clusters)
                    for context in _tls_contexts(resource) for name, _source in context.sds_secrets]
        for kind in (LISTENERS, CLUSTERS):
            entries = self.entries[kind]
            for name in self.warming(kind):
                resource = entries[name].parsed
                fetching += [secret for context in _tls_contexts(resource)
                             for secret, _source in context.sds_secrets]
                if kind == LISTENERS:
                    fetching += [(ROUTES, hcm.rds.route_config_name) for hcm in resource.connection_managers()
                                 if hcm.rds is not None]
                elif resource.eds is not None:
                    fetching.append((ENDPOINTS, resource.eds.service_name))
        # a secret whose fetch timed out no longer holds the start back (its listener or cluster
        # stays warming until it comes)
        fetching += [(RUNTIME, name) for name in self.runtime_sources()]
        return (all(self._has(ROUTES, name) for name in static_routes)
                and all(self._has(ENDPOINTS, name) for name in static_services)
                and all(self._has(*item) if isinstance(item, tuple) else self._has(SECRETS, item)
                        for item in fetching))

    def composed_tree(self, listeners: dict | None = None, clusters: dict | None = None) -> dict:
        """The bootstrap with the active dynamic listeners and clusters (or those given)."""
        return compose(self.static_tree,
                       self.active(LISTENERS) if listeners is None else listeners,
                       self.active(CLUSTERS) if clusters is None else clusters)

    def snapshot(self, initial: bool) -> dict:
        """What the arbiter is sent: what to serve, and what /config_dump shows."""
        return {
            "initial": initial,
            "listeners": self.active(LISTENERS), "clusters": self.active(CLUSTERS),
            "routes": {name: entry.body for name, entry in self.entries[ROUTES].items()},
            "endpoints": {name: entry.body for name, entry in self.entries[ENDPOINTS].items()},
            "secrets": {name: entry.body for name, entry in self.entries[SECRETS].items()},
            "runtime": {name: entry.body for name, entry in self.entries[RUNTIME].items()},
            "versions": dict(self.versions),
            "resources": {kind: {name: [entry.version, entry.last_updated]
                                 for name, entry in self.entries[kind].items()} for kind in KINDS},
            "warming": {LISTENERS: self.warming(LISTENERS), CLUSTERS: self.warming(CLUSTERS)},
            "warming_bodies": {kind: {name: self.entries[kind][name].body for name in self.warming(kind)}
                               for kind in (LISTENERS, CLUSTERS)},
            "unknown_fields": self.unknown_fields,
            "stat_scopes": self.stat_scopes(),
        }

    def stat_scopes(self) -> dict:
        """Whose stats count an RDS or EDS resource's updates, as Envoy scopes them: the
        connection managers' stat prefixes by route config name (``http.<prefix>.rds.<name>.``),
        the clusters by EDS service name (``cluster.<name>.``)."""
        routes, endpoints = {}, {}
        for listener in self._listeners():
            for manager in listener.connection_managers():
                if manager.rds is not None:
                    routes.setdefault(manager.rds.route_config_name, []).append(manager.stat_prefix)
        for cluster in self._clusters():
            if cluster.eds is not None:
                endpoints.setdefault(cluster.eds.service_name, []).append(cluster.stat_name)
        return {ROUTES: routes, ENDPOINTS: endpoints}

    # helpers

    def _has(self, kind, name) -> bool:
        return name in self.entries[kind] or (kind, name) in self.timed_out

    def _has_secrets(self, resource) -> bool:
        return all(name in self.entries[SECRETS] for context in _tls_contexts(resource)
                   for name, _source in context.sds_secrets)

    def _listeners(self):
        return [*self.bootstrap.listeners, *(e.parsed for e in self.entries[LISTENERS].values())]

    def _clusters(self):
        return [*self.bootstrap.clusters, *(e.parsed for e in self.entries[CLUSTERS].values())]

    def _unknown_cluster(self, route_config) -> str | None:
        """validate_clusters: true on an RDS resource: a route to a cluster not known now is
        refused, as Envoy refuses it."""
        known = {cluster.name for cluster in self._clusters()}
        for path, name in route_config.named_clusters():
            if name not in known:
                return f"{path}: unknown cluster '{name}'"
        return None

    def _unfollowable_source(self, kind, parsed) -> str | None:
        """Why the RDS or EDS source a listener or cluster names cannot be followed, or None."""
        if kind == LISTENERS:
            sources = [("rds.config_source", hcm.rds.config_source)
                       for hcm in parsed.connection_managers() if hcm.rds is not None]
        elif kind == CLUSTERS and parsed.eds is not None:
            sources = [("eds_cluster_config.eds_config", parsed.eds.config_source)]
        else:
            sources = []
        for where, source in sources:
            reason = source_problem(source, self.bootstrap)
            if reason is not None:
                return f"{where}: {reason}"
        return None

    def _check_composed(self, kind, bodies, parsed) -> str | None:
        """The bootstrap made with ``bodies`` as the type's whole set (``parsed``: as parsed),
        checked as a reload checks a config: listeners and clusters, warming ones included
        (they will be served), or the active ones with new secrets."""
        if kind == SECRETS:     # parsed secrets are (name, value)
            listeners, clusters = self.active(LISTENERS), self.active(CLUSTERS)
            secrets = {name: value for name, (_, value) in parsed.items()}
        else:
            others = {name: entry.body for name, entry in self.entries[CLUSTERS if kind == LISTENERS
                                                                      else LISTENERS].items()}
            listeners, clusters = (bodies, others) if kind == LISTENERS else (others, bodies)
            secrets = self.secrets()
        tree = self.composed_tree(listeners, clusters)
        try:
            self._check_bootstrap(tree, sds_secrets=secrets)
        except ConfigError as error:
            return _composed_refusal(tree, error.problems)
        return None


def compose(static_tree: dict, listeners: dict, clusters: dict) -> dict:
    """``static_tree`` (a bootstrap) with dynamic ``listeners`` and ``clusters`` (name → body)
    added to its static resources: one config for a generation."""
    tree = copy.copy(static_tree)
    resources = dict(tree.get("static_resources") or {})
    for key, dynamic in (("listeners", listeners), ("clusters", clusters)):
        if dynamic:
            resources[key] = [*(resources.get(key) or []), *dynamic.values()]
    if resources:
        tree["static_resources"] = resources
    return tree


def uses_sds(bootstrap) -> bool:
    """Whether a static listener or cluster of ``bootstrap`` takes a secret from SDS: then the
    xDS process must run to fetch it, even with no dynamic_resources."""
    return any(context.sds_secrets for resource in (*bootstrap.listeners, *bootstrap.clusters)
               for context in _tls_contexts(resource))


def _tls_contexts(resource):
    """The CommonTlsContexts of a parsed listener's filter chains or a parsed cluster's
    transport sockets."""
    if hasattr(resource, "filter_chains"):
        sockets = [chain.transport_socket for chain in resource.all_filter_chains()]
    else:
        sockets = [resource.transport_socket,
                   *(match.transport_socket for match in resource.transport_socket_matches)]
    sockets = [getattr(s, "inner", s) for s in sockets]      # TLS under a PROXY protocol header
    return [s.common for s in sockets if s is not None and hasattr(s, "common")]


def _refusal(kind, name, problems) -> str:
    return "; ".join(f"{_SINGULAR[kind]} '{name}': {path + ': ' if path else ''}{reason}"
                     for path, reason in problems)


def _composed_refusal(tree, problems) -> str:
    """Problems of the composed bootstrap, with paths into a dynamic resource told by its name."""
    resources = tree.get("static_resources") or {}
    described = []
    for path, reason in problems:
        found = _INDEXED.fullmatch(path)
        if found:
            key, index, rest = found.group(1), int(found.group(2)), found.group(3).lstrip(".")
            body = (resources.get(key) or [])[index]
            kind = LISTENERS if key == "listeners" else CLUSTERS
            name = body.get("name", "") if isinstance(body, dict) else ""
            described.append(f"{_SINGULAR[kind]} '{name}': {rest + ': ' if rest else ''}{reason}")
        else:
            described.append(f"{path + ': ' if path else ''}{reason}")
    return "; ".join(described)

