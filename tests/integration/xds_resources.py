"""The resources the test suite's xDS management server (xds_server.py) serves: the six resource
types it knows, the conversion of an Envoy-shaped dict (as in a config file, typed_config with
"@type") into the packed proto, and the store of what is served, per type URL, with a version.

Kept apart from the gRPC and HTTP plumbing so that the protocol bookkeeping
(xds_server_state.py) and the tests can use it without a server.

Why a resource's proto is built from a dict and not checked further: json_format.ParseDict
enforces the proto's shape only (no protoc-gen-validate rules, no Envoy semantics), which is
what the tests need to hand a data plane a resource it should refuse (a cluster with a negative
connect_timeout, a listener without an address). A resource dict may also carry its own
top-level "@type" to be packed as another message than its type's (a Cluster sent as a
Listener), for clients that must refuse a mistyped resource.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import pkgutil
from dataclasses import dataclass

from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory

PREFIX = "type.googleapis.com/"


@dataclass(frozen=True)
class ResourceType:
    short: str          # the control API's name, and the REST path's: /v3/discovery:<short>
    type_url: str
    name_field: str     # the field that names a resource of this type
    wildcard: bool      # LDS and CDS: an empty subscription means "all of them"

    @property
    def full_name(self):
        return self.type_url[len(PREFIX):]


RESOURCE_TYPES = [
    ResourceType("listeners", PREFIX + "envoy.config.listener.v3.Listener", "name", True),
    ResourceType("clusters", PREFIX + "envoy.config.cluster.v3.Cluster", "name", True),
    ResourceType("endpoints", PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment",
                 "cluster_name", False),
    ResourceType("routes", PREFIX + "envoy.config.route.v3.RouteConfiguration", "name", False),
    ResourceType("secrets", PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret", "name", False),
    ResourceType("runtime", PREFIX + "envoy.service.runtime.v3.Runtime", "name", False),
]
BY_SHORT = {t.short: t for t in RESOURCE_TYPES}
BY_URL = {t.type_url: t for t in RESOURCE_TYPES}


def resource_type(kind):
    """The ResourceType for a short name ("clusters") or a type URL; KeyError for others."""
    found = BY_SHORT.get(kind) or BY_URL.get(kind)
    if found is None:
        raise KeyError(f"unknown resource type {kind!r} (one of {', '.join(BY_SHORT)})")
    return found


# --- dicts to protos --------------------------------------------------------------------------

def message_class(full_name):
    """The generated class of a message, importing its package's modules on first use: an
    Envoy resource may name in "@type" any of the thousand extension messages xds-protos holds,
    and importing them all up front would cost the server seconds at every start."""
    pool = descriptor_pool.Default()
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
    except KeyError:
        pass
    package = full_name.rsplit(".", 1)[0]
    try:
        spec = importlib.util.find_spec(package) if "." in package else None
    except ModuleNotFoundError:     # a parent package is not installed (istio.*): a 400
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise KeyError(f"no generated module for {full_name}")
    for module in pkgutil.iter_modules(spec.submodule_search_locations):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"{package}.{module.name}")
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def _import_any_types(value):
    """Make every "@type" nested in ``value`` known to json_format, which resolves an Any's
    type in the default descriptor pool only."""
    if isinstance(value, dict):
        if isinstance(value.get("@type"), str):
            try:
                message_class(value["@type"].rsplit("/", 1)[-1])
            except KeyError:
                pass        # ParseDict will say which type it could not resolve
        for item in value.values():
            _import_any_types(item)
    elif isinstance(value, list):
        for item in value:
            _import_any_types(item)


def to_any(rtype, resource):
    """(name, Any) of an Envoy-shaped dict; ValueError with ParseDict's words when the proto
    will not take it."""
    if not isinstance(resource, dict):
        raise ValueError(f"a {rtype.short} resource must be an object, not {resource!r}")
    body = json.loads(json.dumps(resource))     # ParseDict reorders an Any's keys in place
    full_name = body.pop("@type", rtype.type_url).rsplit("/", 1)[-1]
    try:
        _import_any_types(body)
        message = json_format.ParseDict(body, message_class(full_name)())
    except (json_format.ParseError, KeyError, TypeError) as exc:
        raise ValueError(f"{rtype.short}: {exc}") from None
    name = body.get(rtype.name_field, body.get("name", ""))
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return str(name), packed


def any_to_dict(packed):
    """The proto3 JSON form of a packed resource, field names as in the .proto (and Envoy's
    YAML), with its "@type"."""
    return json_format.MessageToDict(packed, preserving_proto_field_name=True)


def resource_version(packed):
    """A resource's own version, as go-control-plane derives it: a hash of its serialized bytes,
    so that a delta client is sent a resource again only when it changed, and a client's
    initial_resource_versions from before a restart still match."""
    return hashlib.sha256(packed.type_url.encode() + b"\0" + packed.value).hexdigest()[:16]


# --- the store --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    name: str
    packed: any_pb2.Any
    version: str        # resource_version(packed)


class Store:
    """What is served: per type URL, None until first set, then a version and the resources by
    name (in the order given). The caller holds the server's lock around every use.

    With ``path``, each set is saved to that JSON file (the dicts as given, not the protos, so
    the file reads like the test that wrote it) and a new Store on the same path serves it
    again: a control plane killed and restarted comes back with the same config and versions.
    """

    def __init__(self, path=None):
        self.path = path
        self.types = {t.type_url: None for t in RESOURCE_TYPES}
        self.sets = {t.type_url: 0 for t in RESOURCE_TYPES}     # how many times each was set
        self.sources = {}       # type URL -> the dicts of its last set, for the state file
        if path and os.path.exists(path):
            self._load()

    def version(self, type_url):
        current = self.types.get(type_url)
        return None if current is None else current[0]

    def entries(self, type_url):
        """{name: Entry}; empty for a type never set."""
        current = self.types.get(type_url)
        return {} if current is None else current[1]

    def select(self, type_url, wildcard, names):
        """The Any of every resource a subscription covers: all with ``wildcard``, else those of
        ``names`` that exist, in the order they were set."""
        return [e.packed for e in self.entries(type_url).values() if wildcard or e.name in names]

    def set(self, kind, resources, version=None):
        """Replace a type's resources; returns the new version (``version``, or the count of
        sets of this type, made distinct from the current one). ValueError if a resource does
        not convert or two share a name; nothing changes then."""
        rtype = resource_type(kind)
        entries = {}
        for resource in resources:
            name, packed = to_any(rtype, resource)
            if name in entries:
                raise ValueError(f"{rtype.short}: two resources named {name!r}")
            entries[name] = Entry(name, packed, resource_version(packed))
        count = self.sets[rtype.type_url] + 1
        if version is None:
            version = str(count)
            while version == self.version(rtype.type_url):
                version += "+"
        self.types[rtype.type_url] = (str(version), entries)
        self.sets[rtype.type_url] = count
        self.sources[rtype.type_url] = list(resources)
        self._save()
        return str(version)

    def describe(self):
        """The GET /state view: per short type name, its version and resources (JSON form)."""
        out = {}
        for rtype in RESOURCE_TYPES:
            out[rtype.short] = {
                "type_url": rtype.type_url, "version": self.version(rtype.type_url),
                "resources": {e.name: {"version": e.version, "resource": any_to_dict(e.packed)}
                              for e in self.entries(rtype.type_url).values()}}
        return out

    def _save(self):
        if not self.path:
            return
        data = {BY_URL[url].short: {"version": self.version(url), "sets": self.sets[url],
                                    "resources": self.sources[url]}
                for url in self.sources}
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self.path)

    def _load(self):
        with open(self.path) as f:
            data = json.load(f)
        for short, saved in data.items():
            url = BY_SHORT[short].type_url
            self.set(short, saved["resources"], saved["version"])
            self.sets[url] = saved["sets"]
