"""--log-format: spdlog's flags and padding and Envoy's own flags, pinned to what Envoy 1.40
printed for the same patterns (its `runtime: {}` line, logged from source/server/server.cc:989 in
createRuntime, pid and thread 17657, at 2026-12-06 00:13:39.339945 UTC); and the formatter that
lays out Python log records with them."""
import logging
import sys
import time

import pytest

from hotproxy.process.log_format import ENVOY_DEFAULT_FORMAT, LogLine, c_escape, compile_pattern, render
from hotproxy.process.logs import EnvoyFormatter

ENVOY_LINE = LogLine(created=1796516019.339945, level="info", logger="main", message="runtime: {}",
                     pid=17657, thread=17657, path="source/server/server.cc", line=989,
                     function="createRuntime")


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def fmt(pattern, line=ENVOY_LINE, previous=0.0):
    return render(compile_pattern(pattern), line, previous)


def test_every_flag_envoy_printed_escaped():
    pattern = '%l\t%n "%v" %j|%_|%*|%+|%L|%P|%t|%s|%@|%!|%E|%z|%c|%C|%D|%p|%r|%R'
    assert c_escape(fmt(pattern)) == (
        'info\\tmain \\"runtime: {}\\" runtime: {}|runtime: {}||runtime: {}|I|17657|17657|server.cc|'
        'source/server/server.cc:989|createRuntime|1796516019|+00:00|Sun Dec 6 00:13:39 2026|26|'
        '12/06/26|AM|00:13:39 AM|00:13')


def test_padding_aligns_centres_and_truncates_as_spdlog():
    assert fmt("%-8l|%8n|%=9l|%3!n|%v") == "info    |    main|  info   |mai|runtime: {}"


def test_istio_pilot_agent_format():
    assert fmt("%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t") == (
        "2026-12-06T00:13:39.339945Z\tinfo\tenvoy main source/server/server.cc:989\truntime: {}\tthread=17657")


def test_envoy_default_format():
    assert fmt(ENVOY_DEFAULT_FORMAT) == (
        "[2026-12-06 00:13:39.339][17657][info][main] [source/server/server.cc:989] runtime: {}")


@pytest.mark.parametrize("pattern, expected", [
    ("%a %A %b %h %B", "Sun Sunday Dec Dec December"),
    ("%x %m %d %H:%M:%S %I", "12/06/26 12 06 00:13:39 00"),
    ("%e %f %F", "339 339945 339945000"),
    ("%X %T %%", "00:13:39 00:13:39 %"),
    ("%^%l%$", "info"),                         # colour ranges: never coloured
])
def test_time_and_misc_flags(pattern, expected):
    assert fmt(pattern) == expected


def test_elapsed_since_the_previous_line():
    assert fmt("%o %i %O", previous=ENVOY_LINE.created - 2.5) == "2500 2500000 2"


def test_unknown_flags_stay_as_written_and_a_final_percent_is_dropped():
    assert fmt("%Q %k 100%") == "%Q %k 100"


def test_a_truncation_mark_before_an_unknown_flag_is_the_function_name():
    assert fmt("[%15!]") == "[  createRuntime]"


def test_envoy_message_flags_escape_newlines_and_json():
    line = ENVOY_LINE._replace(message='a "b"\nc\td')
    assert fmt("%_") == "runtime: {}"
    assert fmt("%_", line) == 'a "b"\\nc\td'
    assert fmt("%j", line) == 'a \\"b\\"\\nc\\td'


def test_c_escape_keeps_trailing_whitespace_and_escapes_bytes_in_octal():
    assert c_escape("x\\y é\x01\n") == "x\\\\y \\303\\251\\001\n"


def record(name, message, exc_info=None):
    return logging.LogRecord(name, logging.WARNING, "/nowhere/elsewhere.py", 7, message, (), exc_info,
                             func="f")


def test_the_formatter_names_components_as_n():
    formatter = EnvoyFormatter("%n|%l|%s:%#|%!|%v")
    assert formatter.format(record("hotproxy.upstream.discovery.dns", "x")) == "upstream|warning|elsewhere.py:7|f|x"
    assert formatter.format(record("hotproxy", "y")).startswith("main|")


def test_a_traceback_is_one_entry_and_one_line_when_escaped():
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    plain = EnvoyFormatter("%v").format(record("hotproxy.arbiter", "failed", exc_info))
    assert plain.startswith("failed\nTraceback") and plain.endswith("ValueError: boom")
    escaped = EnvoyFormatter("%v", escaped=True).format(record("hotproxy.arbiter", "failed", exc_info))
    assert "\n" not in escaped and escaped.startswith("failed\\nTraceback")
