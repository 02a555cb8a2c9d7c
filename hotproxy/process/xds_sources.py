"""A config's ConfigSource (config/xds.py) as the xDS client takes it (xds/sources.py): the
static cluster it names resolved to the address of its first endpoint."""
from __future__ import annotations

from ..config.xds import ConfigSource
from ..xds.sources import FileSource, GrpcSource, RestSource


def client_source(source: ConfigSource, bootstrap):
    """Initial fetch timeouts are the xDS process's to keep, per resource (process/xds_child.py):
    the client's own, per type, are off."""
    if source.path is not None:
        return FileSource(source.path, source.watched_directory, initial_fetch_timeout_s=0)
    api = bootstrap.dynamic_resources.ads if source.ads else source.api
    host, port = server_address(bootstrap, api.cluster)
    if api.rest:
        return RestSource(host, port, refresh_delay_s=api.refresh_delay,
                          request_timeout_s=api.request_timeout, initial_fetch_timeout_s=0)
    return GrpcSource(host, port, delta=api.delta, ads=source.ads, initial_fetch_timeout_s=0,
                      authority=api.cluster,
                      set_node_on_first_message_only=api.set_node_on_first_message_only)


def server_address(bootstrap, cluster_name: str) -> tuple[str, int]:
    """The (host, port) of the control plane's cluster: its first endpoint (parse.py checked
    that the cluster is a static one with an endpoint)."""
    cluster = bootstrap.cluster(cluster_name)
    endpoint = next(cluster.all_endpoints())
    return endpoint.address.address, endpoint.address.port
