"""Request/response header mutations of a route configuration, compiled per route.

- ``compile_header_level``: one level's ``*_headers_to_add`` / ``*_headers_to_remove`` (route
  configuration, virtual host, route or weighted cluster) → ``HeaderLevel`` or None.
- ``compile_mutation``: levels in the order Envoy applies them → one
  ``mutate(headers, ctx) -> headers`` callable, or None when there is nothing to do.
- ``compile_value``: a header value with Envoy command operators → bytes or ``format(ctx)``.

Envoy (most_specific_header_mutations_wins: false) evaluates the weighted cluster's level first,
then the route's, the virtual host's and the route configuration's, so for OVERWRITE the least
specific level wins. Within a level: removals first, then every value is computed and every
ADD_IF_ABSENT / OVERWRITE_IF_EXISTS presence check is made against the headers as they were
after the removals; then the overwrites are applied (all lines of the name dropped, one appended
at the end) and finally the additions are appended.

A level never changes a message's framing: Content-Length and Transfer-Encoding are put back as
they were after a level that names them (Envoy would append ``content-length: 5,99`` and leave
the next hop to guess; see docs/envoy-reference.md).

``ctx`` provides ``remote_address``, ``remote_ip``, ``local_address``, ``local_ip``,
``protocol`` and ``upstream_address`` (str or bytes; empty when unknown).
"""
from __future__ import annotations

import re
import socket

from ..errors import ConfigError
from .headers import FRAMING

APPEND_IF_EXISTS_OR_ADD = "APPEND_IF_EXISTS_OR_ADD"
ADD_IF_ABSENT = "ADD_IF_ABSENT"
OVERWRITE_IF_EXISTS_OR_ADD = "OVERWRITE_IF_EXISTS_OR_ADD"
OVERWRITE_IF_EXISTS = "OVERWRITE_IF_EXISTS"
_ACTIONS = {action: action for action in (APPEND_IF_EXISTS_OR_ADD, ADD_IF_ABSENT,
                                          OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS)}

#: Supported command operators → the ``ctx`` attribute holding their value.
_CTX_OPERATORS = {
    "DOWNSTREAM_REMOTE_ADDRESS": "remote_address",
    "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": "remote_ip",
    "DOWNSTREAM_LOCAL_ADDRESS": "local_address",
    "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": "local_ip",
    "PROTOCOL": "protocol",
    "UPSTREAM_REMOTE_ADDRESS": "upstream_address",
}
# Envoy's SubstitutionFormatParser command syntax: %NAME%, %NAME(args)%, %NAME(args):len%
_COMMAND = re.compile(r"%([A-Z0-9_]+)(\([^)]*\))?(:[0-9]+)?%")


# --- values ------------------------------------------------------------------------------------

def compile_value(text, where):
    """Header value ``text`` → bytes when it has no operator, else ``format(ctx) -> bytes``."""
    pieces = []  # literal bytes and ctx attribute names (str), in order
    literal = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "%":
            literal.append(c)
            i += 1
            continue
        if text.startswith("%%", i):
            literal.append("%")
            i += 2
            continue
        command = _COMMAND.match(text, i)
        if command is None:
            raise ConfigError([(where, f"Incorrect configuration: {text}. Couldn't find valid "
                                       f"command at position {i}")])
        name, args, length = command.groups()
        if name == "HOSTNAME" or name in _CTX_OPERATORS:
            if args is not None or length is not None:
                raise ConfigError([(where, f"{name} does not take any parameters or length")])
        else:
            raise ConfigError([(where, f"command operator {command.group()} is not supported "
                                       "by hotproxy yet")])
        if name == "HOSTNAME":
            literal.append(socket.gethostname())
        else:
            if literal:
                pieces.append("".join(literal).encode())
                literal = []
            pieces.append(_CTX_OPERATORS[name])
        i = command.end()
    if literal:
        pieces.append("".join(literal).encode())
    if not pieces:
        return b""
    if len(pieces) == 1 and pieces[0].__class__ is bytes:
        return pieces[0]
    return _formatter(pieces)


def _as_bytes(value):
    if not value:
        return b""
    return value if value.__class__ is bytes else value.encode()


def _formatter(pieces):
    if len(pieces) == 1:
        attribute = pieces[0]
        return lambda ctx: _as_bytes(getattr(ctx, attribute))

    def format_value(ctx):
        return b"".join([piece if piece.__class__ is bytes else _as_bytes(getattr(ctx, piece))
                         for piece in pieces])
    return format_value


# --- one level ---------------------------------------------------------------------------------

class HeaderLevel:
    """One level's compiled operations.

    ``static_appends`` is the tuple of (name, value) pairs when the level only appends fixed
    values (nothing to remove or compute), else None: such levels reduce to ``list.extend``.
    """

    __slots__ = ("_remove", "_adds", "static_appends", "apply")

    def __init__(self, remove, adds):
        self._remove = remove
        self._adds = adds
        self.static_appends = None
        self.apply = self._apply
        if FRAMING & (remove | {name for name, _, _, _ in adds}):
            self.apply = self._apply_keeping_framing
        elif not remove and all(value.__class__ is bytes and action is APPEND_IF_EXISTS_OR_ADD
                                for _, value, action, _ in adds):
            self.static_appends = tuple((name, value) for name, value, _, _ in adds)

    def _apply_keeping_framing(self, headers, ctx):
        framing = [header for header in headers if header[0] in FRAMING]
        headers = self._apply(headers, ctx)
        return [header for header in headers if header[0] not in FRAMING] + framing

    def _apply(self, headers, ctx):
        remove = self._remove
        if remove:
            headers = [header for header in headers if header[0] not in remove]
        present = None
        overwrites = []
        appends = []
        for name, value, action, keep_empty in self._adds:
            if value.__class__ is not bytes:
                value = value(ctx)
                if not value and not keep_empty:
                    continue
            if action is APPEND_IF_EXISTS_OR_ADD:
                appends.append((name, value))
            elif action is OVERWRITE_IF_EXISTS_OR_ADD:
                overwrites.append((name, value))
            else:
                if present is None:
                    present = {header[0] for header in headers}
                if action is ADD_IF_ABSENT:
                    if name not in present:
                        appends.append((name, value))
                elif name in present:
                    overwrites.append((name, value))
        for name, value in overwrites:
            headers = [header for header in headers if header[0] != name]
            headers.append((name, value))
        headers.extend(appends)
        return headers


def compile_header_level(headers_to_add, headers_to_remove, where, direction):
    """A level's mutations, or None when it has none.

    ``where`` is the config path of the owning object ("" for the route configuration) and
    ``direction`` "request" or "response" (it names the fields in error paths).
    """
    prefix = f"{where}.{direction}" if where else direction
    problems = []
    remove = set()
    for i, name in enumerate(headers_to_remove):
        name = name.lower()
        if name.startswith(":") or name == "host":
            problems.append((f"{prefix}_headers_to_remove[{i}]",
                             ":-prefixed or host headers may not be removed"))
        remove.add(name.encode())
    adds = []
    for i, option in enumerate(headers_to_add):
        path = f"{prefix}_headers_to_add[{i}]"
        name = option.key.lower()
        if name.startswith(":") or name == "host":
            problems.append((f"{path}.header.key",
                             ":-prefixed or host headers may not be modified"))
        action = _ACTIONS.get(option.append_action)
        if action is None:
            problems.append((f"{path}.append_action",
                             f"unknown append_action '{option.append_action}'"))
        try:
            value = compile_value(option.value, f"{path}.header.value")
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        if value == b"" and not option.keep_empty_value:
            continue  # never added: Envoy skips empty values
        adds.append((name.encode(), value, action, option.keep_empty_value))
    if problems:
        raise ConfigError(problems)
    if not remove and not adds:
        return None
    return HeaderLevel(frozenset(remove), tuple(adds))


# --- a chain of levels -------------------------------------------------------------------------

def _appender(pairs):
    def append(headers, ctx):
        headers.extend(pairs)
        return headers
    return append


def compile_mutation(levels):
    """``mutate(headers, ctx) -> headers`` applying ``levels`` (None entries skipped) in order,
    or None when there is nothing to do. Neighbouring append-only levels become one extend."""
    steps = []
    pending = []
    for level in levels:
        if level is None:
            continue
        if level.static_appends is not None:
            pending.extend(level.static_appends)
            continue
        if pending:
            steps.append(_appender(tuple(pending)))
            pending = []
        steps.append(level.apply)
    if pending:
        steps.append(_appender(tuple(pending)))
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    steps = tuple(steps)

    def mutate(headers, ctx):
        for step in steps:
            headers = step(headers, ctx)
        return headers
    return mutate
