"""%START_TIME(format)%: each specifier as Envoy 1.40 printed it in the lab for the same instant
(its own %f, %Nf and %s; strftime's; and how they mix with %%)."""
import calendar
import re

import pytest

from hotproxy.accesslog.start_time import compile_start_time
from hotproxy.accesslog.syntax import FormatError

# Envoy's start times in the two lab runs: 2026-11-23T08:26:12.441580Z, 08:31:41.509751Z.
FIRST = calendar.timegm((2026, 11, 23, 8, 26, 12)) + 0.441580
SECOND = calendar.timegm((2026, 11, 23, 8, 31, 41)) + 0.509751

SPECIFIERS = {
    "": (FIRST, b"2026-11-23T08:26:12.441Z"),
    "%s": (FIRST, b"1795422372"), "%f": (FIRST, b"441580000"), "%9f": (FIRST, b"441580000"),
    "%6f": (FIRST, b"441580"), "%3f": (FIRST, b"441"), "%1f": (FIRST, b"4"),
    "%Y-%m-%dT%H:%M:%S.%fZ": (FIRST, b"2026-11-23T08:26:12.441580000Z"),
    "%d/%b/%Y:%H:%M:%S %z": (FIRST, b"23/Nov/2026:08:26:12 +0000"),
    "%a": (FIRST, b"Mon"), "%A": (FIRST, b"Monday"), "%b": (FIRST, b"Nov"),
    "%B": (FIRST, b"November"), "%c": (FIRST, b"Mon Nov 23 08:26:12 2026"), "%C": (FIRST, b"20"),
    "%D": (FIRST, b"11/23/26"), "%e": (FIRST, b"23"), "%F": (FIRST, b"2026-11-23"),
    "%g": (FIRST, b"26"), "%G": (FIRST, b"2026"), "%h": (FIRST, b"Nov"), "%I": (FIRST, b"08"),
    "%j": (FIRST, b"327"), "%k": (FIRST, b" 8"), "%l": (FIRST, b" 8"), "%p": (FIRST, b"AM"),
    "%r": (FIRST, b"08:26:12 AM"), "%R": (FIRST, b"08:26"), "%t": (FIRST, b"\t"),
    "%T": (FIRST, b"08:26:12"), "%u": (FIRST, b"1"), "%U": (FIRST, b"47"), "%V": (FIRST, b"48"),
    "%w": (FIRST, b"1"), "%W": (FIRST, b"47"), "%x": (FIRST, b"11/23/26"),
    "%X": (FIRST, b"08:26:12"), "%y": (FIRST, b"26"), "%Z": (FIRST, b"UTC"),
    "%Ec": (FIRST, b"Mon Nov 23 08:26:12 2026"), "%Oy": (FIRST, b"26"), "%P": (FIRST, b"am"),
    # Envoy takes its own specifiers first, escaped or not.
    "%%f": (SECOND, b"%509751000"), "%%s": (SECOND, b"%1795422701"),
    "%%%f": (SECOND, b"%509751000"), "%ss": (SECOND, b"1795422701s"),
    "%3fx%f": (SECOND, b"509x509751000"), "%s.%3f%3f": (FIRST, b"1795422372.441441"),
    # The rest is strftime's, with its flags, and unknown specifiers printed as they are.
    "%H%%%M": (SECOND, b"08%31"), "x%%y": (SECOND, b"x%y"), "%Y%": (FIRST, b"2026%"),
    "%": (SECOND, b"%"), "%0f": (SECOND, b"%0f"), "%10f": (SECOND, b"      %10f"),
    "%Es": (SECOND, b"1795422701"), "%Q": (SECOND, b"%Q"), "%E": (SECOND, b"%E"),
    "%-d": (SECOND, b"23"), "%_d": (SECOND, b"23"), "%^a": (SECOND, b"MON"),
    "%#Z": (SECOND, b"utc"), "%010Y": (SECOND, b"0000002026"), "%Ef": (SECOND, b"%Ef"),
    "%O": (SECOND, b"%O"), "%+": (SECOND, b"%+"),
}


@pytest.mark.parametrize("format_text, instant, printed", [
    (format_text, *expected) for format_text, expected in SPECIFIERS.items()],
    ids=[repr(format_text) for format_text in SPECIFIERS])
def test_specifier(format_text, instant, printed):
    assert compile_start_time(format_text)(instant) == printed


def test_the_second_is_cached_but_the_fraction_is_not():
    print_time = compile_start_time("%H:%M:%S.%6f")
    assert print_time(FIRST) == b"08:26:12.441580"
    assert print_time(FIRST + 0.5) == b"08:26:12.941580"
    assert print_time(FIRST + 1) == b"08:26:13.441580"
    default = compile_start_time("")
    assert default(FIRST + 0.5) == b"2026-11-23T08:26:12.941Z"
    assert default(FIRST + 1) == b"2026-11-23T08:26:13.441Z"


def test_fractions_are_truncated_to_microseconds_without_float_error():
    # A time.time() float near .220 may read .21999999: rounded to microseconds first.
    instant = calendar.timegm((2026, 11, 23, 0, 0, 0)) + 0.22
    assert compile_start_time("%3f %9f")(instant) == b"220 220000000"
    assert compile_start_time("")(calendar.timegm((2026, 1, 1, 0, 0, 0)) + 0.9999999) == \
        b"2026-01-01T00:00:01.000Z"


@pytest.mark.parametrize("format_text", ["%n", "a%-5nb", "%En", "%%n"])
def test_a_format_that_may_print_a_newline_is_refused(format_text):
    # Envoy: "Invalid header configuration. Format string contains newline."
    with pytest.raises(FormatError, match="must not print a newline"):
        compile_start_time(format_text)


@pytest.mark.parametrize("specifier", ["%E3S", "%E*S", "%E10S", "%E0S", "%E3f", "%E*f", "%Ez",
                                       "%E*z", "%:z", "%::z", "%E4Y"])
def test_absl_extensions_are_not_supported(specifier):
    with pytest.raises(FormatError, match=re.escape(f"{specifier} is not supported by hotproxy")):
        compile_start_time(f"%H {specifier}")


def test_an_escaped_percent_is_no_absl_extension():
    assert compile_start_time("%%Ez")(FIRST) == b"%Ez"
