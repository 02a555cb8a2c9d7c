"""Envoy's ``--log-format``: spdlog's pattern flags, with Envoy's own (``%_ %j %* %+``) and
spdlog's padding (``%8l`` right-aligns, ``%-8l`` left, ``%=8l`` centres, ``%3!n`` truncates).

``compile_pattern(pattern)`` turns a pattern into pieces once; ``render(pieces, line)`` lays out
one ``LogLine``. As in spdlog, an unknown flag is printed as written and a lone ``%`` at the end
is dropped. ``c_escape`` is ``--log-format-escaped``: the whole formatted line is escaped as
absl::CEscape does (Envoy escapes its own format characters too), but not its trailing
whitespace.
"""
from __future__ import annotations

import json
import time
from typing import Callable, NamedTuple

ENVOY_DEFAULT_FORMAT = "[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v"

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_FULL_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FULL_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_SHORT_LEVELS = {"trace": "T", "debug": "D", "info": "I", "warning": "W", "error": "E",
                 "critical": "C", "off": "O"}
_MAX_WIDTH = 64     # spdlog's cap on a padding width


class LogLine(NamedTuple):
    """One log record, as the flags see it."""
    created: float      # seconds since the epoch
    level: str          # spdlog's level name: trace, debug, info, warning, error, critical
    logger: str         # the component (%n)
    message: str
    pid: int
    thread: int
    path: str = ""      # source file, relative to the package's parent directory (%g)
    line: int = 0
    function: str = ""


class _Clock:
    """The time fields of one line, worked out once however many flags use them."""

    def __init__(self, line: LogLine, previous: float):
        seconds = int(line.created)
        self.tm = time.localtime(seconds)
        self.seconds = seconds
        # a float of seconds since 1970 holds microseconds, not nanoseconds: %F ends in 000
        self.nanos = int(round((line.created - seconds) * 1e6)) % 1_000_000 * 1000
        self.elapsed = max(line.created - previous, 0.0) if previous else 0.0


def _hour12(tm) -> int:
    return tm.tm_hour - 12 if tm.tm_hour > 12 else tm.tm_hour   # spdlog's: midnight is 00


def _utc_offset(tm) -> str:
    offset = tm.tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    return f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


def _hms(tm) -> str:
    return f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"


def _json_escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


# flag → (line, clock) → text. Envoy registers %_ %j %* %+ as custom flags, which win over
# spdlog's own %+ (its default format).
_FLAGS: dict[str, Callable[[LogLine, _Clock], str]] = {
    "v": lambda line, c: line.message,
    "_": lambda line, c: line.message.replace("\n", "\\n"),
    "j": lambda line, c: _json_escaped(line.message),
    "+": lambda line, c: _json_escaped(line.message),   # the message less its tags: none here
    "*": lambda line, c: "",                              # the tags of a tagged log: none here
    "t": lambda line, c: str(line.thread),
    "P": lambda line, c: str(line.pid),
    "n": lambda line, c: line.logger,
    "l": lambda line, c: line.level,
    "L": lambda line, c: _SHORT_LEVELS.get(line.level, line.level[:1].upper()),
    "a": lambda line, c: _DAYS[(c.tm.tm_wday + 1) % 7],
    "A": lambda line, c: _FULL_DAYS[(c.tm.tm_wday + 1) % 7],
    "b": lambda line, c: _MONTHS[c.tm.tm_mon - 1],
    "h": lambda line, c: _MONTHS[c.tm.tm_mon - 1],
    "B": lambda line, c: _FULL_MONTHS[c.tm.tm_mon - 1],
    "c": lambda line, c: (f"{_DAYS[(c.tm.tm_wday + 1) % 7]} {_MONTHS[c.tm.tm_mon - 1]} "
                          f"{c.tm.tm_mday} {_hms(c.tm)} {c.tm.tm_year}"),
    "C": lambda line, c: f"{c.tm.tm_year % 100:02d}",
    "Y": lambda line, c: str(c.tm.tm_year),
    "D": lambda line, c: f"{c.tm.tm_mon:02d}/{c.tm.tm_mday:02d}/{c.tm.tm_year % 100:02d}",
    "x": lambda line, c: f"{c.tm.tm_mon:02d}/{c.tm.tm_mday:02d}/{c.tm.tm_year % 100:02d}",
    "m": lambda line, c: f"{c.tm.tm_mon:02d}",
    "d": lambda line, c: f"{c.tm.tm_mday:02d}",
    "H": lambda line, c: f"{c.tm.tm_hour:02d}",
    "I": lambda line, c: f"{_hour12(c.tm):02d}",
    "M": lambda line, c: f"{c.tm.tm_min:02d}",
    "S": lambda line, c: f"{c.tm.tm_sec:02d}",
    "e": lambda line, c: f"{c.nanos // 1_000_000:03d}",
    "f": lambda line, c: f"{c.nanos // 1_000:06d}",
    "F": lambda line, c: f"{c.nanos:09d}",
    "E": lambda line, c: str(c.seconds),
    "p": lambda line, c: "PM" if c.tm.tm_hour >= 12 else "AM",
    "r": lambda line, c: (f"{_hour12(c.tm):02d}:{c.tm.tm_min:02d}:{c.tm.tm_sec:02d} "
                          f"{'PM' if c.tm.tm_hour >= 12 else 'AM'}"),
    "R": lambda line, c: f"{c.tm.tm_hour:02d}:{c.tm.tm_min:02d}",
    "T": lambda line, c: _hms(c.tm),
    "X": lambda line, c: _hms(c.tm),
    "z": lambda line, c: _utc_offset(c.tm),
    "%": lambda line, c: "%",
    "^": lambda line, c: "",        # colour ranges: Envoy's sinks never colour
    "$": lambda line, c: "",
    "@": lambda line, c: f"{line.path}:{line.line}" if line.path else "",
    "s": lambda line, c: line.path.rpartition("/")[2],
    "g": lambda line, c: line.path,
    "#": lambda line, c: str(line.line) if line.path else "",
    "!": lambda line, c: line.function,
    "o": lambda line, c: str(int(c.elapsed * 1e3)),
    "i": lambda line, c: str(int(c.elapsed * 1e6)),
    "u": lambda line, c: str(int(c.elapsed * 1e9)),
    "O": lambda line, c: str(int(c.elapsed)),
}


class _Padding(NamedTuple):
    width: int
    side: str           # "left" pads on the left (right-aligns), "right", "center"
    truncate: bool

    def apply(self, text: str) -> str:
        missing = self.width - len(text)
        if missing < 0:
            return text[:self.width] if self.truncate else text
        if self.side == "left":
            return " " * missing + text
        if self.side == "right":
            return text + " " * missing
        return " " * (missing // 2) + text + " " * (missing - missing // 2)


def compile_pattern(pattern: str) -> list:
    """The pieces of ``pattern``: literal text, or (flag function, padding or None)."""
    pieces, literal, i = [], [], 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char != "%":
            literal.append(char)
            continue
        padding, i = _padding(pattern, i)
        if i >= len(pattern):
            break
        flag = pattern[i]
        i += 1
        function = _FLAGS.get(flag)
        if function is not None:
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append((function, padding))
        elif padding is not None and padding.truncate:
            # spdlog's reading of "%10!]": the "!" was the function-name flag, padded
            pieces.append("".join(literal))
            literal = [flag]
            pieces.append((_FLAGS["!"], padding._replace(truncate=False)))
        else:
            literal.append("%" + flag)
    if literal:
        pieces.append("".join(literal))
    return [piece for piece in pieces if piece != ""]


def _padding(pattern: str, i: int) -> tuple[_Padding | None, int]:
    side = "left"
    if i < len(pattern) and pattern[i] in "-=":
        side = "right" if pattern[i] == "-" else "center"
        i += 1
    start = i
    while i < len(pattern) and pattern[i].isdigit():
        i += 1
    if i == start:
        return None, i
    width = min(int(pattern[start:i]), _MAX_WIDTH)
    truncate = i < len(pattern) and pattern[i] == "!"
    return _Padding(width, side, truncate), i + truncate


def render(pieces: list, line: LogLine, previous: float = 0.0) -> str:
    """``line`` laid out by compiled ``pieces``; ``previous`` is when the last line was logged
    (for %o %i %u %O)."""
    clock = _Clock(line, previous)
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        else:
            function, padding = piece
            text = function(line, clock)
            out.append(padding.apply(text) if padding is not None else text)
    return "".join(out)


_C_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"',
              ord("'"): "\\'", ord("\\"): "\\\\"}
_ASCII_SPACE = " \t\n\v\f\r"


def c_escape(text: str) -> str:
    """absl::CEscape of ``text`` but its trailing whitespace, byte by byte of its UTF-8."""
    body = text.rstrip(_ASCII_SPACE)
    out = []
    for byte in body.encode("utf-8", "backslashreplace"):
        if byte in _C_ESCAPES:
            out.append(_C_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    return "".join(out) + text[len(body):]
