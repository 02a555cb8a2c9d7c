"""What the client hands its caller (ResourceEntry, Update) and the decoding both protocol
variants share: a resource's Any into an entry, a JSON DiscoveryResponse into its message, and
the error_detail of a NACK."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import convert
from .type_urls import RESOURCE_WRAPPER, ResourceType

#: google.rpc.Code INTERNAL: the code of Envoy's NACKs (grpc_mux_impl, delta_subscription_state)
NACK_CODE = 13
#: Envoy truncates a NACK's message to this many characters (gRPC trailers are 8 KiB at most)
MAX_NACK_MESSAGE = 4096


@dataclass(frozen=True)
class ResourceEntry:
    """One resource. ``body`` is it as MessageToDict(preserving_proto_field_name=True) writes
    it: nested Anys keep ``@type``; 64-bit integers are strings and Durations "1.500s" (proto3
    JSON). ``unknown_fields`` are the paths of fields the protos do not know (dropped from
    ``body``), for Envoy's ``server.dynamic_unknown_fields``. Entries are shared between the
    updates a resource stays the same in: the caller reads them, never changes them."""
    name: str
    version: str
    body: dict
    unknown_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Update:
    """The resources of one type after a response, which the caller accepts or rejects whole.

    ``resources`` is the full current set (name → ResourceEntry) should it be accepted: for a
    wildcard SotW type, exactly the response's; for a SotW type of named resources, those held
    before updated by the response's (the protocol lets such a response carry only what changed,
    and no removal: a name leaves when the caller stops asking for it); for delta, the held set
    with the response's additions and removals applied. ``version_info`` is the response's
    (delta: its system_version_info, or its nonce when the server sends none)."""
    type_url: str
    version_info: str
    resources: dict
    added_or_changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    #: the subscription's source: a type may come from several (each EDS cluster its own file)
    source: object = None


@dataclass(frozen=True)
class Staged:
    """A response checked and decoded but not applied: ``update`` for the caller to judge, or
    ``error`` when the response itself is malformed (NACKed without asking the caller)."""
    nonce: str
    update: Update | None = None
    error: str | None = None
    unknown_fields: dict = field(default_factory=dict)     # name → paths, for the events


def decode_any(any_message, rtype: ResourceType, version: str,
               json_unknown=()) -> ResourceEntry:
    """The entry for a resource of type ``rtype``; raises ValueError with Envoy's wording for
    an Any of another type or one that does not decode."""
    if any_message.type_url != rtype.type_url:
        raise ValueError(f"{any_message.type_url} does not match the message-wide type URL "
                         f"{rtype.type_url}")
    message = convert.unpack(any_message)
    unknown = convert.wire_unknown_fields(message)
    name = getattr(message, rtype.name_field)
    try:
        body = convert.to_dict(message)
    except ValueError as error:
        raise ValueError(f"{rtype.full_name} '{name}': {error}") from None
    return ResourceEntry(name, version, body, tuple(unknown) + tuple(json_unknown))


def decode_sotw(any_message, rtype: ResourceType, version: str, json_unknown=()):
    """``(name, entry)`` for a SotW response's resource, which may be wrapped in a
    ``discovery.v3.Resource`` (its own name and version); the entry is None for a wrapper that
    carries no resource (a TTL heartbeat: the held resource stays)."""
    if any_message.type_url != RESOURCE_WRAPPER:
        entry = decode_any(any_message, rtype, version, json_unknown)
        return entry.name, entry
    wrapper = convert.unpack(any_message)
    if not wrapper.HasField("resource"):
        return wrapper.name, None
    entry = decode_any(wrapper.resource, rtype, wrapper.version or version, json_unknown)
    name = wrapper.name or entry.name
    return name, ResourceEntry(name, entry.version, entry.body, entry.unknown_fields)


def parse_json_response(value):
    """A DiscoveryResponse read from JSON or YAML (REST, files): the message, the unknown-field
    paths of each resource by its index, and those outside any resource. Raises ValueError."""
    from envoy.service.discovery.v3 import discovery_pb2
    if not isinstance(value, dict):
        raise ValueError("a DiscoveryResponse must be a JSON object")
    message, paths = convert.parse_json(value, discovery_pb2.DiscoveryResponse)
    by_index, other = {}, []
    for path in paths:
        head, dot, rest = path.partition(".")
        index = _resource_index(head)
        if index is None or not dot:
            other.append(path)
        else:
            by_index.setdefault(index, []).append(rest)
    return message, by_index, other


def _resource_index(head: str):
    """3 for ``resources[3]``, else None."""
    digits = head[len("resources["):-1]
    if head.startswith("resources[") and head.endswith("]") and digits.isdigit():
        return int(digits)
    return None


def error_detail(message: str):
    """The ``google.rpc.Status`` of a NACK, as Envoy fills it."""
    from google.rpc import status_pb2
    if len(message) > MAX_NACK_MESSAGE:
        message = message[:MAX_NACK_MESSAGE] + "...(truncated)"
    return status_pb2.Status(code=NACK_CODE, message=message)


def changed_names(old: dict, new_entries: dict) -> tuple[str, ...]:
    """The names among ``new_entries`` that are new or whose body differs from ``old``'s."""
    return tuple(sorted(name for name, entry in new_entries.items()
                        if name not in old or old[name].body != entry.body))
