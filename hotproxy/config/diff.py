"""What a reload changes: the serving config against the new one, as a ReloadReport.

Both sides are first reduced to an *inventory* (``inventory(bootstrap)``): for each listener,
cluster, virtual host (by route configuration) and certificate, digests of its set fields. An
inventory is plain JSON, so the side that serves can be described by another process (the
previous epoch over the hot-restart channel, the admin's ``/hotproxy/config_inventory`` for
``hotproxy --mode diff``) exactly as it parsed it — certificates as the bytes it loaded, not as
the files hold them now — and without shipping any key material: only digests travel.

A listener's digests leave out its route tables and certificate bytes, which are reported on
their own (routes by virtual host, certificates by where they came from and a fingerprint of
their content), so that a route edit reads as a route change and a rotated certificate as a
certificate change, not as a modified listener.

A TLS context that takes secrets from SDS is compared by the secrets it names, not by what they
hold: SDS sends those (and rotates them without a reload), and a config read on its own, as
``--mode diff`` reads the new one, has none of them.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
from dataclasses import dataclass

from .listener import HttpConnectionManager
from .route import RouteConfiguration
from .tls import CommonTlsContext, TlsCertificate, ValidationContext

KINDS = ("listeners", "clusters", "routes", "certificates")
ADDED, REMOVED, MODIFIED = "added", "removed", "modified"
_SIGNS = {ADDED: "+", REMOVED: "-", MODIFIED: "~"}
_SINGULAR = {"listeners": "listener", "clusters": "cluster", "routes": "virtual host",
             "certificates": "certificate"}
#: Bootstrap fields that are not one of KINDS, reported as "other" by name.
_RESOURCE_FIELDS = ("listeners", "clusters")
#: certificate material, reported under "certificates" rather than in its listener or cluster
_PEM_FIELDS = ("trusted_ca_pem", "crl_pem")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


@dataclass(frozen=True)
class Change:
    action: str          # ADDED, REMOVED or MODIFIED
    name: str
    reason: str = ""     # MODIFIED: the top-level fields that differ


@dataclass(frozen=True)
class ReloadReport:
    listeners: tuple[Change, ...] = ()
    clusters: tuple[Change, ...] = ()
    routes: tuple[Change, ...] = ()
    certificates: tuple[Change, ...] = ()
    other: tuple[str, ...] = ()       # other top-level bootstrap fields that differ

    @property
    def changed(self) -> bool:
        return bool(self.other) or any(getattr(self, kind) for kind in KINDS)

    def summary(self) -> str:
        """One line: ``listeners +1 ~1; clusters -1; other: admin``, or ``no change``."""
        parts = []
        for kind in KINDS:
            changes = getattr(self, kind)
            if changes:
                counts = " ".join(f"{_SIGNS[action]}{n}" for action in (ADDED, REMOVED, MODIFIED)
                                  if (n := sum(c.action == action for c in changes)))
                parts.append(f"{kind} {counts}")
        if self.other:
            parts.append("other: " + ", ".join(self.other))
        return "; ".join(parts) or "no change"

    def text(self) -> str:
        """One line per change, under the summary."""
        lines = [self.summary()]
        for kind in KINDS:
            for change in getattr(self, kind):
                line = f"  {_SIGNS[change.action]} {_SINGULAR[kind]} '{change.name}'"
                lines.append(f"{line}: {change.reason}" if change.reason else line)
        for name in self.other:
            lines.append(f"  ~ {name}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        out = {"changed": self.changed, "summary": self.summary()}
        for kind in KINDS:
            changes = getattr(self, kind)
            out[kind] = {
                ADDED: [c.name for c in changes if c.action == ADDED],
                REMOVED: [c.name for c in changes if c.action == REMOVED],
                MODIFIED: {c.name: c.reason for c in changes if c.action == MODIFIED},
            }
        out["other"] = list(self.other)
        return out


def diff_configs(old, new) -> ReloadReport:
    """The report from Bootstrap ``old`` (None: nothing served yet) to Bootstrap ``new``."""
    return diff_inventories(inventory(old) if old is not None else empty_inventory(), inventory(new))


def diff_inventories(old: dict, new: dict) -> ReloadReport:
    return ReloadReport(**{kind: _diff_kind(old.get(kind, {}), new.get(kind, {})) for kind in KINDS},
                        other=tuple(sorted(name for name in set(old.get("other", {})) | set(new.get("other", {}))
                                           if old.get("other", {}).get(name) != new.get("other", {}).get(name))))


def empty_inventory() -> dict:
    return {kind: {} for kind in KINDS} | {"other": {}}


def _diff_kind(old: dict, new: dict) -> tuple[Change, ...]:
    changes = [Change(ADDED, name) for name in sorted(set(new) - set(old))]
    changes += [Change(REMOVED, name) for name in sorted(set(old) - set(new))]
    for name in sorted(set(old) & set(new)):
        if old[name] != new[name]:
            changes.append(Change(MODIFIED, name, _reason(old[name], new[name])))
    return tuple(changes)


def _reason(old, new) -> str:
    """Which fields differ (a certificate's inventory entry is its fingerprint alone)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return f"content changed ({old} → {new})"
    fields = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    return ", ".join(fields)


# --- the inventory


def inventory(bootstrap) -> dict:
    """``{"listeners": {name: {field: digest}}, "clusters": …, "routes": {"<route config>/<virtual
    host>": {field: digest}}, "certificates": {where: fingerprint}, "other": {field: digest}}``.
    A field at its default value is left out."""
    routes, certificates = {}, {}
    listeners = {}
    for listener in bootstrap.listeners:
        for index, chain in enumerate(listener.all_filter_chains()):
            chain_name = chain.name or (f"filter_chains[{index}]" if chain is not listener.default_filter_chain
                                        else "default_filter_chain")
            for manager in (f for f in chain.filters if isinstance(f, HttpConnectionManager)):
                if manager.rds is None:
                    _route_entries(routes, manager.route_config, f"{listener.name}/{chain_name}")
        _certificate_entries(certificates, [chain.transport_socket for chain in listener.all_filter_chains()],
                             f"listener '{listener.name}'")
        listeners[listener.name] = _field_digests(listener)
    clusters = {}
    for cluster in bootstrap.clusters:
        _certificate_entries(certificates, list(cluster.tls_contexts()), f"cluster '{cluster.name}'")
        clusters[cluster.name] = _field_digests(cluster)
    other = {name: digest for name, digest in _field_digests(bootstrap).items() if name not in _RESOURCE_FIELDS}
    return {"listeners": listeners, "clusters": clusters, "routes": routes, "certificates": certificates,
            "other": other}


def _route_entries(routes: dict, route_config: RouteConfiguration, unnamed: str) -> None:
    config_name = route_config.name or unnamed
    own = {name: digest for name, digest in _field_digests(route_config).items()
           if name not in ("name", "virtual_hosts")}
    if own:     # headers added or removed for the whole table
        routes[config_name] = own
    for vhost in route_config.virtual_hosts:
        routes[f"{config_name}/{vhost.name}"] = _field_digests(vhost)


def _certificate_entries(certificates: dict, contexts, owner: str) -> None:
    """Every certificate and CA of the TLS ``contexts``, by file name (inline ones by their owner)."""
    for found in _walk([_static_part(context) for context in contexts]):
        if isinstance(found, TlsCertificate):
            where = found.source if found.source and found.source != "<inline>" else f"<inline> in {owner}"
            certificates[where] = fingerprint(found.chain_pem, found.key_pem, found.password or b"")
        elif isinstance(found, ValidationContext) and found.trusted_ca_pem is not None:
            where = found.trusted_ca_source or "<inline>"
            where = where if where != "<inline>" else f"<inline> CA in {owner}"
            certificates[where] = fingerprint(found.trusted_ca_pem, found.crl_pem or b"")


def _static_part(value):
    """A TLS context without what its SDS secrets put in it (``value`` unchanged otherwise)."""
    common = getattr(value, "common", value)
    if not isinstance(common, CommonTlsContext) or not common.sds_secrets:
        return value
    static = dataclasses.replace(common, tls_certificates=(), validation=None, missing_secrets=())
    return static if common is value else dataclasses.replace(value, common=static)


def fingerprint(*parts: bytes) -> str:
    """The first 16 hex digits of the SHA-256 of ``parts``."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


def _walk(value):
    """``value`` and every dataclass instance inside it."""
    names = _field_names(type(value))
    if names is not None:
        yield value
        for name in names:
            yield from _walk(getattr(value, name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)


def _field_digests(resource) -> dict:
    """{field name: digest} of the dataclass ``resource``'s fields that are not at their default."""
    digests = {}
    for field in dataclasses.fields(resource):
        value = getattr(resource, field.name)
        if field.default is not dataclasses.MISSING and _equal_default(value, field.default):
            continue
        digests[field.name] = _digest(_canonical(value))
    return digests


def _equal_default(value, default) -> bool:
    try:
        return bool(value == default)
    except Exception:  # a value whose == is not a plain comparison
        return False


def _digest(canonical) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_PRIMITIVES = (str, int, float, bool, type(None))
_FIELD_NAMES = {}       # dataclass type → its field names


def _field_names(kind) -> tuple[str, ...] | None:
    """The field names of dataclass type ``kind``; None when it is not one."""
    try:
        return _FIELD_NAMES[kind]
    except KeyError:
        names = (tuple(f.name for f in dataclasses.fields(kind))
                 if dataclasses.is_dataclass(kind) else None)
        _FIELD_NAMES[kind] = names
        return names


def _canonical(value):
    """A JSON value standing for ``value``, the same in any process that parsed the same config:
    route tables become their name (routes are reported by virtual host), certificate material
    where it came from (certificates are reported by fingerprint), sets sorted, bytes hashed."""
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, (tuple, list)):
        return [_canonical(item) for item in value]
    kind = type(value)
    names = _field_names(kind)
    if names is not None:
        if kind is RouteConfiguration:
            return {"route_config": value.name}
        if kind is TlsCertificate:
            return {"certificate": value.source}
        if kind is CommonTlsContext and value.sds_secrets:
            value = _static_part(value)
        return {"@": kind.__name__, **{name: _canonical(getattr(value, name)) for name in names
                                       if not (kind is ValidationContext and name in _PEM_FIELDS)}}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, dict):
        return [[_canonical(key), _canonical(item)] for key, item in
                sorted(value.items(), key=lambda pair: json.dumps(_canonical(pair[0]), sort_keys=True))]
    if isinstance(value, re.Pattern):
        return {"regex": value.pattern, "flags": value.flags}
    if hasattr(value, "__dict__"):
        return {"@": kind.__name__, **{key: _canonical(item) for key, item in sorted(vars(value).items())
                                      if not key.startswith("_")}}
    return _ADDRESS.sub("", repr(value))
