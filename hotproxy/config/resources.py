"""One xDS resource read on its own: a Listener, Cluster, RouteConfiguration or
ClusterLoadAssignment as a control plane sends it (the proto3 JSON mapping of the message, with
``@type`` on nested ``Any`` fields).

Unlike a bootstrap, a dynamic resource may carry fields hotproxy's protos do not know: Envoy
ignores them with a warning, counted in ``server.dynamic_unknown_fields``, rather than rejecting
the update (a control plane newer than the proxy is normal). So each parser returns the unknown
fields' paths beside the result; everything else that is wrong raises ConfigError, whose paths
are relative to the resource and which the xDS client sends back in its NACK.
"""
from __future__ import annotations

from ..errors import ConfigError
from .fields import Context, Fields, Node, StructFields
from .loader import without_paths
from .parse_cluster import cluster, load_assignment
from .parse_listener import listener
from .parse_route import route_configuration
from .parse_tls import secret
from .trees import text_problems
from .runtime import flatten
from .xds import CLUSTERS, ENDPOINTS, LISTENERS, ROUTES, RUNTIME, SECRETS

_PARSERS = {
    LISTENERS: listener,
    CLUSTERS: cluster,
    ROUTES: route_configuration,
    # EDS hosts are IP addresses: there is nothing to resolve
    ENDPOINTS: lambda node: load_assignment(node, ip_only=True),
    # (name, TlsCertificate or ValidationContext): certificate files are read here, as a
    # static config's are
    SECRETS: secret,
    RUNTIME: lambda node: runtime_layer(node),
}
#: the field that names each type's resources
NAME_FIELDS = {LISTENERS: "name", CLUSTERS: "name", ROUTES: "name", ENDPOINTS: "cluster_name",
               SECRETS: "name", RUNTIME: "name"}
RUNTIME_RESOURCE = Fields("name layer")


def parse_resource(kind: str, body: dict, sds_secrets=None):
    """(parsed resource, unknown field paths) of ``body``, a resource of type ``kind`` (one of
    config/xds.py's short names); ``sds_secrets``: the secrets its TLS contexts may name (as
    parse_bootstrap's). Raises ConfigError."""
    problems = text_problems(body)
    if problems:
        raise ConfigError(problems)
    body = dict(body)
    body.pop("@type", None)     # an Any's own type, which the transport checked
    unknown = []
    ctx = Context(unknown_fields=unknown, sds_secrets=sds_secrets or {})
    parsed = _PARSERS[kind](Node(body, "", ctx))
    if ctx.problems:
        raise ConfigError(ctx.problems)
    if parsed is None:
        raise ConfigError([("", "the resource is empty")])
    return parsed, unknown


def without_unknown_fields(body: dict, paths: list[str]) -> dict:
    """``body`` without the fields at ``paths`` (as ``parse_resource`` reports them), so that the
    resource can be placed in a bootstrap, which refuses unknown fields."""
    return without_paths(body, set(paths)) if paths else body


def runtime_layer(node: Node):
    """An RTDS Runtime resource: (name, its layer as a mapping). A list or a null in the layer
    is refused, as Envoy refuses it ("Invalid runtime entry value")."""
    m = node.message(RUNTIME_RESOURCE)
    if m is None:
        return None
    name = m.string("name", required=True)
    layer = m.nested("layer", lambda n: n.message(StructFields()) and n.value) or {}
    for key, value in flatten(layer)[1]:
        m.at("layer").fail(f"Invalid runtime entry value for {key}: {value!r}")
    return (name, layer) if name else None
