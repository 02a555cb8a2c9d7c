"""/config_dump's query, as Envoy 1.40's admin handler reads it: ``?resource=`` (one repeated
field of the dump messages, each element on its own), ``?mask=`` (a FieldMask, applied to each
config or, with ``resource``, to each element), ``?name_regex=`` (an RE2 full match on resource
names) and ``?include_eds``.

FieldMask paths are checked against Envoy's own message descriptors (xds-protos, imported on the
first mask): a path Envoy refuses is refused here, whether or not the field is set.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..matching import compile_regex

ADMIN = "type.googleapis.com/envoy.admin.v3."
_ANY = "google.protobuf.Any"

#: Each dump message's fields, in proto order: the element message of a repeated field, None for
#: a singular one. ``resource=`` looks a name up here, in the order the configs are dumped.
FIELDS = {
    "BootstrapConfigDump": {"bootstrap": None, "last_updated": None},
    "ClustersConfigDump": {"version_info": None,
                           "static_clusters": "ClustersConfigDump.StaticCluster",
                           "dynamic_active_clusters": "ClustersConfigDump.DynamicCluster",
                           "dynamic_warming_clusters": "ClustersConfigDump.DynamicCluster"},
    "EndpointsConfigDump": {"static_endpoint_configs": "EndpointsConfigDump.StaticEndpointConfig",
                            "dynamic_endpoint_configs": "EndpointsConfigDump.DynamicEndpointConfig"},
    "ListenersConfigDump": {"version_info": None,
                            "static_listeners": "ListenersConfigDump.StaticListener",
                            "dynamic_listeners": "ListenersConfigDump.DynamicListener"},
    "ScopedRoutesConfigDump": {
        "inline_scoped_route_configs": "ScopedRoutesConfigDump.InlineScopedRouteConfigs",
        "dynamic_scoped_route_configs": "ScopedRoutesConfigDump.DynamicScopedRouteConfigs"},
    "RoutesConfigDump": {"static_route_configs": "RoutesConfigDump.StaticRouteConfig",
                         "dynamic_route_configs": "RoutesConfigDump.DynamicRouteConfig"},
    "SecretsConfigDump": {"static_secrets": "SecretsConfigDump.StaticSecret",
                          "dynamic_active_secrets": "SecretsConfigDump.DynamicSecret",
                          "dynamic_warming_secrets": "SecretsConfigDump.DynamicSecret"},
}


class ConfigDumpError(Exception):
    """A query Envoy refuses: ``status`` and Envoy's plain-text ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Query:
    resource: str | None = None
    mask: str | None = None             # as given; None when absent
    paths: tuple = ()                   # the mask's paths, empty ones skipped
    matches: object = None              # name -> bool
    include_eds: bool = False


def parse_query(query) -> Query:
    """``query``: parameter → value (a bare flag is ""). ConfigDumpError 400 for a bad regex."""
    query = query or {}
    mask = query.get("mask")
    return Query(resource=query.get("resource") or None, mask=mask,
                 paths=tuple(path for path in (mask or "").split(",") if path),
                 matches=_name_matcher(query.get("name_regex") or ""),
                 include_eds="include_eds" in query)


def _name_matcher(pattern):
    if not pattern:
        return lambda name: True
    try:
        compiled = compile_regex(pattern, "name_regex")
    except ConfigError as error:
        reason = error.problems[0][1].removeprefix(f"invalid regex '{pattern}': ")
        raise ConfigDumpError(400, f"INVALID_ARGUMENT: Error while parsing name_regex from "
                                   f"{pattern}: {reason}") from None
    return lambda name: compiled.fullmatch(str(name).encode()) is not None


def select(configs: list, query: Query) -> dict:
    """The ConfigDump of ``configs`` (each a dump message with its "@type") as ``query`` asks."""
    if query.resource is not None:
        elements = _resource(configs, query)
        return {"configs": elements} if elements else {}
    if not query.paths:
        return {"configs": configs}
    kept = []
    for config in configs:
        descriptor = _descriptor(config["@type"])
        if all(_valid(descriptor, path) for path in query.paths):
            kept.append(_trim(config, _tree(query.paths)))
    if not kept:
        raise ConfigDumpError(400, f"FieldMask {query.mask} could not be successfully applied "
                                   f"to any configs.")
    return {"configs": kept}


def _resource(configs, query):
    resource = query.resource
    for config in configs:
        fields = FIELDS[config["@type"].removeprefix(ADMIN)]
        if resource not in fields:
            continue
        element_type = fields[resource]
        if element_type is None:
            raise ConfigDumpError(400, f"{resource} is not a repeated field. "
                                       f"Use ?mask={resource} to get only this field")
        elements = []
        for element in config.get(resource, ()):
            element = {"@type": ADMIN + element_type, **element}
            if query.paths:
                element = _trim_element(element, query.paths)
            elements.append(element)
        return elements
    raise ConfigDumpError(404, f"{resource} not found in config dump")


def _trim_element(element, paths):
    """Envoy's trimResourceMessage: the paths under the element's one Any field (cluster,
    listener, route_config, …) apply to the resource inside it, the others to the element."""
    descriptor = _descriptor(element["@type"])
    outer, inner, any_field = [], [], None
    for path in paths:
        head, _, rest = path.partition(".")
        field = descriptor.fields_by_name.get(head) if descriptor is not None else None
        if field is not None and not _repeated(field) and _message_name(field) == _ANY:
            any_field = head
            outer.append(head)
            inner.append(rest)
        else:
            outer.append(path)
    if any_field is not None and isinstance(element.get(any_field), dict):
        resource = element[any_field]
        inner_descriptor = _descriptor(resource.get("@type", ""))
        if not all(_valid(inner_descriptor, path) for path in inner):
            raise _unusable(paths)
        element = {**element, any_field: _trim(resource, _tree(inner))}
    if not all(_valid(descriptor, path) for path in outer):
        raise _unusable(paths)
    return _trim(element, _tree(outer))


def _unusable(paths):
    """Envoy quotes the FieldMask's DebugString (less protobuf's randomized debug marker)."""
    listed = "".join(f'paths: "{_c_escape(path)}"\n' for path in paths)
    return ConfigDumpError(400, f"FieldMask {listed} could not be successfully used.")


def _c_escape(text):
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif " " <= char < "\x7f":
            out.append(char)
        else:
            out.extend(f"\\{byte:03o}" for byte in char.encode())
    return "".join(out)


# --- FieldMask -----------------------------------------------------------------------------------

def _tree(paths):
    """A FieldMaskTree: a path ending at a field keeps all of it, whatever else names under it."""
    root = {}
    for path in paths:
        node = root
        parts = path.split(".")
        for index, part in enumerate(parts):
            if part in node and not node[part]:
                break                           # an ancestor is kept whole already
            if index == len(parts) - 1:
                node[part] = {}
            else:
                node = node.setdefault(part, {})
    return root


def _trim(message, tree):
    """protobuf's FieldMaskUtil::TrimMessage over a JSON-shaped message: only the fields in
    ``tree`` stay; "@type" (the Any around it) always does. An empty tree trims nothing."""
    if not tree or not isinstance(message, dict):
        return message
    trimmed = {}
    for key, value in message.items():
        if key == "@type":
            trimmed[key] = value
        elif key in tree:
            trimmed[key] = _trim(value, tree[key]) if tree[key] and isinstance(value, dict) else value
    return trimmed


def _valid(descriptor, path):
    """protobuf's FieldMaskUtil::GetFieldDescriptors: every part names a field, and only the
    last may be repeated or not a message. Without descriptors, every path is taken."""
    if descriptor is None:
        return _PROTOS is False
    for part in path.split("."):
        if descriptor is None:
            return False
        field = descriptor.fields_by_name.get(part)
        if field is None:
            return False
        descriptor = field.message_type if not _repeated(field) else None
    return True


def _repeated(field):
    flag = getattr(field, "is_repeated", None)
    if flag is None:
        return field.label == field.LABEL_REPEATED
    return flag() if callable(flag) else flag


def _message_name(field):
    return field.message_type.full_name if field.message_type is not None else None


_PROTOS = None      # the descriptor pool once loaded; False when xds-protos is not installed


def _descriptor(type_url):
    """The descriptor of the message ``type_url`` names, or None (unknown, or no protos)."""
    global _PROTOS
    if _PROTOS is None:
        try:
            # Envoy's admin, bootstrap and resource messages register themselves in the pool.
            from envoy.admin.v3 import config_dump_pb2  # noqa: F401
            from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: F401
            from envoy.config.route.v3 import route_pb2, scoped_route_pb2  # noqa: F401
            from envoy.extensions.transport_sockets.tls.v3 import secret_pb2  # noqa: F401
            from google.protobuf import descriptor_pool
            _PROTOS = descriptor_pool.Default()
        except ImportError:
            _PROTOS = False
    if _PROTOS is False:
        return None
    try:
        return _PROTOS.FindMessageTypeByName(type_url.rpartition("/")[2])
    except KeyError:
        return None
