"""The xDS resource types hotproxy subscribes to: their type URLs, the field that names a
resource of each, and where each is served (gRPC method, REST path).

The gRPC methods are called by path with the discovery messages' own (de)serializers: no
generated ``*_pb2_grpc`` stub is imported.
"""
from __future__ import annotations

from dataclasses import dataclass

_PREFIX = "type.googleapis.com/"


@dataclass(frozen=True)
class ResourceType:
    type_url: str
    short_name: str         # as Envoy's REST path and stats name the type
    name_field: str         # the field of the resource that holds its name
    service: str            # the per-type gRPC service (package-qualified)
    sotw_method: str | None     # None: the type has no SotW variant (VHDS)
    delta_method: str

    @property
    def full_name(self) -> str:
        return self.type_url[len(_PREFIX):]

    def grpc_method(self, delta: bool) -> str:
        method = self.delta_method if delta else self.sotw_method
        if method is None:
            raise ValueError(f"{self.full_name} has no state-of-the-world gRPC method")
        return f"/{self.service}/{method}"

    @property
    def rest_path(self) -> str:
        return f"/v3/discovery:{self.short_name}"


def _type(full_name, short_name, name_field, service, sotw, delta):
    return ResourceType(_PREFIX + full_name, short_name, name_field, service, sotw, delta)


LISTENER = _type("envoy.config.listener.v3.Listener", "listeners", "name",
                 "envoy.service.listener.v3.ListenerDiscoveryService",
                 "StreamListeners", "DeltaListeners")
CLUSTER = _type("envoy.config.cluster.v3.Cluster", "clusters", "name",
                "envoy.service.cluster.v3.ClusterDiscoveryService",
                "StreamClusters", "DeltaClusters")
ENDPOINT = _type("envoy.config.endpoint.v3.ClusterLoadAssignment", "endpoints", "cluster_name",
                 "envoy.service.endpoint.v3.EndpointDiscoveryService",
                 "StreamEndpoints", "DeltaEndpoints")
ROUTE = _type("envoy.config.route.v3.RouteConfiguration", "routes", "name",
              "envoy.service.route.v3.RouteDiscoveryService",
              "StreamRoutes", "DeltaRoutes")
SCOPED_ROUTE = _type("envoy.config.route.v3.ScopedRouteConfiguration", "scoped-routes", "name",
                     "envoy.service.route.v3.ScopedRoutesDiscoveryService",
                     "StreamScopedRoutes", "DeltaScopedRoutes")
VIRTUAL_HOST = _type("envoy.config.route.v3.VirtualHost", "virtual-hosts", "name",
                     "envoy.service.route.v3.VirtualHostDiscoveryService",
                     None, "DeltaVirtualHosts")
SECRET = _type("envoy.extensions.transport_sockets.tls.v3.Secret", "secrets", "name",
               "envoy.service.secret.v3.SecretDiscoveryService",
               "StreamSecrets", "DeltaSecrets")
RUNTIME = _type("envoy.service.runtime.v3.Runtime", "runtime", "name",
                "envoy.service.runtime.v3.RuntimeDiscoveryService",
                "StreamRuntime", "DeltaRuntime")

#: type URL → ResourceType
BY_TYPE_URL = {t.type_url: t for t in (LISTENER, CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE,
                                       VIRTUAL_HOST, SECRET, RUNTIME)}
#: short name ("listeners", "clusters", ... as hotproxy.config.xds names them) → ResourceType
BY_SHORT_NAME = {t.short_name: t for t in BY_TYPE_URL.values()}

ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
#: a delta or SotW response may wrap each resource in this message (name, version, ttl)
RESOURCE_WRAPPER = _PREFIX + "envoy.service.discovery.v3.Resource"


def ads_method(delta: bool) -> str:
    return f"/{ADS_SERVICE}/{'DeltaAggregatedResources' if delta else 'StreamAggregatedResources'}"


def resource_type(type_url: str) -> ResourceType:
    try:
        return BY_TYPE_URL[type_url]
    except KeyError:
        raise ValueError(f"unsupported xDS resource type {type_url!r}") from None
