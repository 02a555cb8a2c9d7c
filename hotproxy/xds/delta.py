"""The state of one incremental (delta) subscription, sans IO.

A stream opens with every name asked for (none: the legacy wildcard) and the version of each
resource held, so that the server resends only what changed. Later requests carry only changes
of interest, or ACK/NACK a response by its nonce (a NACK adds ``error_detail``). A NACKed
response changes nothing held. As Envoy's DeltaSubscriptionState: a response naming a resource
twice is malformed; a resource without a body is a heartbeat when its version is the one held,
else news that the resource does not exist (a removal); one carrying only aliases is skipped.
"""
from __future__ import annotations

from dataclasses import replace

from envoy.service.discovery.v3 import discovery_pb2

from .resources import Staged, Update, decode_any, error_detail
from .type_urls import ResourceType


class DeltaState:
    """``names`` None is a wildcard subscription (LDS, CDS), which stays one."""

    def __init__(self, rtype: ResourceType, names: frozenset | None):
        self.rtype = rtype
        self.names = names
        self.resources = {}         # name → ResourceEntry, its version the server's

    def fresh_request(self):
        """The first request on a new stream: all the interest, and the versions held."""
        return discovery_pb2.DeltaDiscoveryRequest(
            type_url=self.rtype.type_url, resource_names_subscribe=sorted(self.names or ()),
            initial_resource_versions={n: e.version for n, e in self.resources.items()})

    def set_names(self, names: frozenset):
        """Changes the names asked for; drops the resources no longer asked for. Returns the
        request that subscribes and unsubscribes the difference, or None when there is none."""
        if self.names is None:
            raise ValueError(f"{self.rtype.short_name}: a wildcard subscription has no names")
        added, removed = names - self.names, self.names - names
        self.names = names
        self.resources = {n: e for n, e in self.resources.items() if n in names}
        if not added and not removed:
            return None
        return discovery_pb2.DeltaDiscoveryRequest(
            type_url=self.rtype.type_url, resource_names_subscribe=sorted(added),
            resource_names_unsubscribe=sorted(removed))

    def receive(self, response, json_unknown=None) -> Staged:
        """Decodes ``response`` into the set it would make current. (``json_unknown``, as
        SotwState.receive takes it, never comes: delta is binary gRPC only.)"""
        seen, added, gone = set(), {}, set()
        try:
            for resource in response.resources:
                if resource.name in seen:
                    raise ValueError(f"duplicate name {resource.name} found among "
                                     f"added/updated resources")
                seen.add(resource.name)
                if not self._wanted(resource.name):
                    continue
                if not resource.HasField("resource"):
                    held = self.resources.get(resource.name)
                    if not resource.aliases and (held is None or held.version != resource.version):
                        gone.add(resource.name)
                    continue
                entry = decode_any(resource.resource, self.rtype, resource.version)
                added[resource.name] = replace(entry, name=resource.name)
            for name in response.removed_resources:
                if name in seen:
                    raise ValueError(f"duplicate name {name} found in the union of "
                                     f"added+removed resources")
                seen.add(name)
                gone.add(name)
        except ValueError as error:
            return Staged(response.nonce, error=str(error))
        current = {n: e for n, e in self.resources.items() if n not in gone}
        current.update(added)
        update = Update(self.rtype.type_url, response.system_version_info or response.nonce,
                        current, tuple(sorted(added)),
                        tuple(sorted(n for n in gone if n in self.resources)))
        unknown = {name: e.unknown_fields for name, e in added.items() if e.unknown_fields}
        return Staged(response.nonce, update=update, unknown_fields=unknown)

    def accept(self, staged: Staged):
        """Makes ``staged`` current; returns the ACK."""
        self.resources = {n: e for n, e in staged.update.resources.items() if self._wanted(n)}
        return self._ack(staged.nonce)

    def reject(self, staged: Staged, message: str):
        """Keeps what is held; returns the NACK."""
        return self._ack(staged.nonce, message)

    def _wanted(self, name: str) -> bool:
        return self.names is None or name in self.names

    def _ack(self, nonce: str, error: str | None = None):
        request = discovery_pb2.DeltaDiscoveryRequest(type_url=self.rtype.type_url,
                                                      response_nonce=nonce)
        if error is not None:
            request.error_detail.CopyFrom(error_detail(error))
        return request
