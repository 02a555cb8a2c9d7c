"""The authority of a request (Host, or the authority of an absolute-form target), checked
against RFC 9110's ``uri-host [ ":" port ]`` before it is routed or forwarded."""
from __future__ import annotations

import ipaddress
import re

_UNRESERVED_OR_SUB_DELIMS = rb"A-Za-z0-9\-._~!$&'()*+,;="
_REG_NAME = rb"(?:[" + _UNRESERVED_OR_SUB_DELIMS + rb"]|%[0-9A-Fa-f]{2})*"
_IP_LITERAL = rb"\[[0-9A-Za-z\-._~!$&'()*+,;=:]+\]"
_AUTHORITY = re.compile(rb"(" + _IP_LITERAL + rb"|" + _REG_NAME + rb")(?::([0-9]*))?")
_IPV_FUTURE = re.compile(rb"[vV][0-9A-Fa-f]+\.[" + _UNRESERVED_OR_SUB_DELIMS + rb":]+")

#: Hosts seen valid (without ``port_required``); keep-alive clients send the same few over and
#: over, so the request decoder looks here first.
KNOWN_VALID_HOSTS = _valid = set()
_VALID_CACHE_SIZE = 1024


def is_valid_host(value: bytes, port_required=False) -> bool:
    """True when ``value`` is ``uri-host [ ":" port ]`` with a port in 0-65535 (RFC 9110 §7.2).
    An empty value is valid (a target without an authority); with ``port_required`` a ``:``
    must be followed by digits, as Envoy requires of an absolute-form target's authority."""
    if value in _valid and not port_required:
        return True
    match = _AUTHORITY.fullmatch(value)
    if match is None:
        return False
    host, port = match.groups()
    if port is not None:
        if port_required and not port:
            return False
        if port and int(port) > 65535:
            return False
    if host[:1] == b"[" and not _valid_ip_literal(host[1:-1]):
        return False
    if not port_required:
        if len(_valid) >= _VALID_CACHE_SIZE:
            _valid.clear()
        _valid.add(value)
    return True


def _valid_ip_literal(inside: bytes) -> bool:
    if inside[:1] in (b"v", b"V"):
        return _IPV_FUTURE.fullmatch(inside) is not None
    try:
        ipaddress.IPv6Address(inside.decode("ascii"))
    except ValueError:
        return False
    return True
