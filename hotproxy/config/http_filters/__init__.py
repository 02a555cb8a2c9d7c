"""Which module of this package parses each HTTP filter's typed config.

An ``http_filters[].typed_config`` ``@type`` maps to a module here whose ``parse(node)`` returns
the filter's config (a frozen dataclass whose ``runtime`` names its module under
hotproxy/http/filters/); a ``typed_per_filter_config`` ``@type`` maps to a module whose
``parse_per_route(node)`` returns the per-route config. Modules are imported when a config names
their type, so a filter that is not configured costs nothing.
"""
from __future__ import annotations

import importlib

_EXT = "type.googleapis.com/envoy.extensions.filters.http."

FILTERS = {
    _EXT + "cors.v3.Cors": "cors",
    _EXT + "csrf.v3.CsrfPolicy": "csrf",
    _EXT + "compressor.v3.Compressor": "compressor",
    _EXT + "decompressor.v3.Decompressor": "decompressor",
    _EXT + "local_ratelimit.v3.LocalRateLimit": "local_ratelimit",
    _EXT + "rbac.v3.RBAC": "rbac",
    _EXT + "fault.v3.HTTPFault": "fault",
    _EXT + "ext_authz.v3.ExtAuthz": "ext_authz",
    _EXT + "buffer.v3.Buffer": "buffer",
    _EXT + "header_to_metadata.v3.Config": "header_to_metadata",
    _EXT + "header_mutation.v3.HeaderMutation": "header_mutation",
    _EXT + "cache.v3.CacheConfig": "cache",
    _EXT + "grpc_web.v3.GrpcWeb": "grpc_web",
    _EXT + "grpc_http1_bridge.v3.Config": "grpc_http1_bridge",
    _EXT + "grpc_stats.v3.FilterConfig": "grpc_stats",
    "type.googleapis.com/hotproxy.filters.python.v1.Python": "python",
}

PER_ROUTE = {
    _EXT + "cors.v3.CorsPolicy": "cors",
    _EXT + "csrf.v3.CsrfPolicy": "csrf",
    _EXT + "compressor.v3.CompressorPerRoute": "compressor",
    _EXT + "local_ratelimit.v3.LocalRateLimit": "local_ratelimit",
    _EXT + "rbac.v3.RBACPerRoute": "rbac",
    _EXT + "fault.v3.HTTPFault": "fault",
    _EXT + "ext_authz.v3.ExtAuthzPerRoute": "ext_authz",
    _EXT + "buffer.v3.BufferPerRoute": "buffer",
    _EXT + "header_to_metadata.v3.Config": "header_to_metadata",
    _EXT + "header_mutation.v3.HeaderMutationPerRoute": "header_mutation",
    "type.googleapis.com/hotproxy.filters.python.v1.Python": "python",
}

#: refused by name, with the reason
REFUSED = {
    _EXT + "lua.v3.Lua": "the Lua filter is not supported: hotproxy's answer to it is the Python "
                         "filter (type.googleapis.com/hotproxy.filters.python.v1.Python)",
}


def parser(url, per_route=False):
    """The parse function for ``url``, or None when no module of this package parses it."""
    module_name = (PER_ROUTE if per_route else FILTERS).get(url)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{module_name}":
            raise
        return None
    return getattr(module, "parse_per_route" if per_route else "parse", None)
