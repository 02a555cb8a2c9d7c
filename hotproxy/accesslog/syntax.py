"""Envoy's substitution format string syntax: literal text, ``%%`` for a literal ``%``, and command
operators ``%COMMAND%``, ``%COMMAND(PARAMETERS)%``, ``%COMMAND(PARAMETERS):LENGTH%``.

``tokenize`` reads a format string the way Envoy 1.40's SubstitutionFormatParser does, into literal
strings (consecutive literal text merged, ``%%`` already turned into ``%``) and ``Command``s.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Envoy's command regex. The parameters run to the first ")" after which the rest of the operator
# still matches, so they may contain ")" (RE2 and Python agree on this leftmost-first match).
_COMMAND = re.compile(r"%([A-Z0-9_]+)(?:\((.*?)\))?(?::([0-9]+))?%")
_SIZE_MAX = 2**64 - 1       # Envoy reads LENGTH into a size_t: a larger one is no command at all


class FormatError(Exception):
    """A format string (or one of its operators) Envoy or hotproxy refuses; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Command:
    name: str               # "REQ"
    parameters: str         # "USER-AGENT" ("" when absent: Envoy treats "%X()%" as "%X%")
    length: int | None      # the ":LENGTH" truncation, None when absent
    written: str            # the operator as written, for messages: "%REQ(USER-AGENT):10%"


def tokenize(text: str) -> list[str | Command]:
    """Literal strings and Commands in order. Raises FormatError at the first operator Envoy
    cannot read."""
    tokens: list[str | Command] = []
    literal = []
    position = 0
    while True:
        percent = text.find("%", position)
        if percent < 0:
            literal.append(text[position:])
            break
        literal.append(text[position:percent])
        if text.startswith("%%", percent):
            literal.append("%")
            position = percent + 2
            continue
        match = _COMMAND.match(text, percent)
        if match is None or (match[3] is not None and int(match[3]) > _SIZE_MAX):
            # Envoy counts the position in bytes.
            at = len(text[:percent].encode())
            raise FormatError(f"no command operator can be read at position {at} "
                              f"({text[percent:percent + 20]!r}); a literal % is written %%")
        if any(literal):
            tokens.append("".join(literal))
        literal = []
        name, parameters, length = match.groups()
        tokens.append(Command(name, parameters or "", None if length is None else int(length),
                              match[0]))
        position = match.end()
    if any(literal):
        tokens.append("".join(literal))
    return tokens
