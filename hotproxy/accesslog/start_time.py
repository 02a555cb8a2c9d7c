"""%START_TIME% and %START_TIME(format)%: a wall-clock time in UTC, as Envoy 1.40 prints it.

Without a format: ``2026-11-23T08:22:48.335Z`` (milliseconds, truncated). With one, Envoy first
cuts the format at its own specifiers ``%f`` (nanoseconds, 9 digits), ``%1f``..``%9f`` (that many
digits, truncated) and ``%s`` (epoch seconds), without regard to ``%%`` (so ``%%f`` is ``%`` and
the fraction), then hands each piece in between to absl::FormatTime, which leaves all but its own
extensions to the C library's strftime. Python's time.strftime is that same strftime; absl's
extensions (``%E3S``, ``%E*S``, ``%E6f``, ``%E*f``, ``%Ez``, ``%E*z``, ``%:z``, ``%E4Y``) are
refused.

The strftime output is computed once per second and kept; each call only fills in the fraction
(the default format's whole text is kept for its millisecond).
"""
from __future__ import annotations

import re
import time

from .syntax import FormatError

_ENVOY_SPECIFIER = re.compile(r"%([1-9])?f|%s")
# Envoy refuses any format that may print a newline.
_NEWLINE = re.compile(r"%[-_0^#]*[1-9]*(E|O)?n")
# Read left to right so that an escaped "%%" is not taken for the start of a specifier.
_ABSL_SPECIFIER = re.compile(r"%%|%E(?:[0-9]+|\*)[Sf]|%E\*?z|%:{1,3}z|%E4Y")
_SECONDS = object()         # stands for %s among a format's parts
_FRACTIONS = tuple(b".%03dZ" % millis for millis in range(1000))    # the default format's ends


def compile_start_time(format_text: str):
    """``print(start_time) -> bytes`` for ``start_time`` in time.time() seconds. Raises
    FormatError for a format Envoy or hotproxy refuses."""
    if not format_text:
        return _default_format()
    if _NEWLINE.search(format_text):
        raise FormatError("the time format must not print a newline (%n)")
    parts = []
    position = 0
    for specifier in _ENVOY_SPECIFIER.finditer(format_text):
        parts.append(format_text[position:specifier.start()])
        parts.append(_SECONDS if specifier[0] == "%s" else int(specifier[1] or 9))
        position = specifier.end()
    parts.append(format_text[position:])
    parts = [part for part in parts if part != ""]
    for part in parts:
        for absl in _ABSL_SPECIFIER.finditer(part) if isinstance(part, str) else ():
            if absl[0] != "%%":
                raise FormatError(f"the time specifier {absl[0]} is not supported by hotproxy yet")
    return _custom_format(parts)


def _default_format():
    second, second_text = None, b""         # the second, and its "%Y-%m-%dT%H:%M:%S" as bytes
    milli, milli_text = None, b""           # the millisecond, and the whole text

    def print_time(start_time):
        nonlocal second, second_text, milli, milli_text
        millis = round(start_time * 1_000_000) // 1000
        if millis != milli:
            seconds = millis // 1000
            if seconds != second:
                second = seconds
                second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode()
            milli, milli_text = millis, second_text + _FRACTIONS[millis % 1000]
        return milli_text

    return print_time


def _custom_format(parts):
    cached = [None, ()]             # the second, and the parts with all but the fractions printed

    def print_time(start_time):
        # time.time() carries microseconds (as Envoy's clock does here); rounding to them first
        # keeps float error from taking a microsecond off.
        seconds, micros = divmod(round(start_time * 1_000_000), 1_000_000)
        if seconds != cached[0]:
            cached[:] = seconds, _print_second(parts, seconds)
        nanos = b"%09d" % (micros * 1000)
        return b"".join([part if part.__class__ is bytes else nanos[:part] for part in cached[1]])

    try:
        print_time(0.0)
    except ValueError as error:      # e.g. a NUL in the format
        raise FormatError(f"invalid time format: {error}") from None
    return print_time


def _print_second(parts, seconds):
    """The parts with strftime pieces and %s printed for ``seconds``; fraction widths kept."""
    utc = time.struct_time((*time.gmtime(seconds), "UTC", 0))   # %Z prints UTC, as in Envoy
    return tuple(b"%d" % seconds if part is _SECONDS
                 else time.strftime(part, utc).encode() if isinstance(part, str)
                 else part
                 for part in parts)
