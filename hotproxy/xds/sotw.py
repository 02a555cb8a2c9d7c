"""The state of one state-of-the-world subscription, sans IO: the requests it sends and how a
response changes what it holds.

Every request carries the version last accepted and the nonce of the last response: an ACK
names the response's own version, a NACK the previous one plus ``error_detail``. A new stream
starts from the version held and no nonce (Envoy's GrpcMuxImpl clears nonces on a new stream).
"""
from __future__ import annotations

from envoy.service.discovery.v3 import discovery_pb2

from .resources import Staged, Update, changed_names, decode_sotw, error_detail
from .type_urls import ResourceType


class SotwState:
    """``names`` None is a wildcard subscription (LDS, CDS), which stays one: the protocol has
    no way out of wildcard mode on a stream."""

    def __init__(self, rtype: ResourceType, names: frozenset | None):
        self.rtype = rtype
        self.names = names
        self.version_info = ""      # of the last accepted response
        self.nonce = ""             # of the last response on the current stream
        self.resources = {}         # name → ResourceEntry, as last accepted

    def fresh_request(self):
        """The first request on a new stream."""
        self.nonce = ""
        return self._request()

    def poll_request(self):
        """A REST poll: the version held and the names, no nonce (Envoy's REST client)."""
        return self._request(nonce=False)

    def set_names(self, names: frozenset):
        """Changes the names asked for; the resources no longer asked for are dropped. Returns the
        request that tells the server (current version, last nonce)."""
        if self.names is None:
            raise ValueError(f"{self.rtype.short_name}: a wildcard subscription has no names")
        self.names = names
        self.resources = {n: e for n, e in self.resources.items() if n in names}
        return self._request()

    def receive(self, response, json_unknown=None) -> Staged:
        """Decodes ``response`` (its type already matched) into what it would make current.
        ``json_unknown``: index → unknown-field paths for a response parsed from JSON."""
        self.nonce = response.nonce
        json_unknown = json_unknown or {}
        entries = {}
        try:
            for index, any_message in enumerate(response.resources):
                name, entry = decode_sotw(any_message, self.rtype, response.version_info,
                                          json_unknown.get(index, ()))
                if name in entries:
                    raise ValueError(f"duplicate {self.rtype.full_name} '{name}' found")
                if entry is None:
                    entry = self.resources.get(name)
                if entry is not None and (self.names is None or name in self.names):
                    entries[name] = entry
        except ValueError as error:
            return Staged(response.nonce, error=str(error))
        if self.names is None:
            current = entries
        else:
            current = {**self.resources, **entries}
        update = Update(self.rtype.type_url, response.version_info, current,
                        changed_names(self.resources, entries),
                        tuple(sorted(set(self.resources) - set(current))))
        unknown = {name: e.unknown_fields for name, e in entries.items() if e.unknown_fields}
        return Staged(response.nonce, update=update, unknown_fields=unknown)

    def accept(self, staged: Staged):
        """Makes ``staged`` current; returns the ACK. Names the caller stopped asking for while
        it judged the update are not taken back in."""
        update = staged.update
        self.version_info = update.version_info
        self.resources = {n: e for n, e in update.resources.items()
                          if self.names is None or n in self.names}
        return self._request()

    def reject(self, staged: Staged, message: str):
        """Keeps what is held; returns the NACK of ``staged``'s response."""
        return self._request(error=message)

    def _request(self, error: str | None = None, nonce: bool = True):
        request = discovery_pb2.DiscoveryRequest(
            version_info=self.version_info, type_url=self.rtype.type_url,
            resource_names=sorted(self.names or ()),
            response_nonce=self.nonce if nonce else "")
        if error is not None:
            request.error_detail.CopyFrom(error_detail(error))
        return request
