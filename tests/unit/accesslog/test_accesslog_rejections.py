"""Formats compile_format refuses, each problem at the field path of the string it is in (Envoy
1.40's own message for the same format in the comment)."""
import pytest

from hotproxy.accesslog.format import compile_format
from hotproxy.config.accesslog import LogFormat
from hotproxy.errors import ConfigError

NOT_SUPPORTED = "is not supported by hotproxy yet"

TEXT = {
    # Envoy: Not supported field in StreamInfo: FOO
    "%FOO%": "unknown command operator %FOO%",
    "%UPSTREAM_SERVICE_TIME%": "unknown command operator %UPSTREAM_SERVICE_TIME%",
    "%REQUEST_ID%": "unknown command operator %REQUEST_ID%",
    "%1%": "unknown command operator %1%",
    # Known to Envoy 1.40, not filled by hotproxy.
    "%UPSTREAM_PROTOCOL%": f"command operator %UPSTREAM_PROTOCOL% {NOT_SUPPORTED}",
    "%CLUSTER_METADATA(a:b)%": f"command operator %CLUSTER_METADATA% {NOT_SUPPORTED}",
    "%STREAM_ID%": f"command operator %STREAM_ID% {NOT_SUPPORTED}",
    "%START_TIME_LOCAL%": f"command operator %START_TIME_LOCAL% {NOT_SUPPORTED}",
    # Envoy: Incorrect configuration: %REQ(%. Couldn't find valid command at position 0
    "%REQ(%": "no command operator can be read at position 0",
    "a %b": "no command operator can be read at position 2",
    # Envoy: REQ requires parameters
    "%REQ%": "%REQ%: %REQ% requires a header name: %REQ(NAME)%",
    "%REQ()%": "%REQ()%: %REQ% requires a header name",
    "%TRAILER%": "%TRAILER% requires a header name",
    # Envoy: PROTOCOL does not take any parameters or length
    "%PROTOCOL(x)%": "%PROTOCOL(x)%: %PROTOCOL% takes no parameters and no length",
    "%RESPONSE_CODE:3%": "%RESPONSE_CODE% takes no parameters and no length",
    "%DURATION(x)%": "%DURATION% takes no parameters and no length",
    # Envoy: START_TIME does not allow length to be specified.
    "%START_TIME:3%": "%START_TIME:3%: %START_TIME% takes no length",
    "%RESPONSE_CODE_DETAILS:3%": "%RESPONSE_CODE_DETAILS% takes no length",
    # Envoy: More than 1 alternative header specified in token: a?b?c
    "%REQ(a?b?c)%": "%REQ(a?b?c)%: only one alternative header may follow '?'",
    # Envoy: Invalid header configuration. Format string contains invalid characters.
    "%REQ(a)b)%": "%REQ(a)b)%: invalid header name 'a)b'",
    "%REQ( a )%": "invalid header name ' a '",
    "%REQ(:)%": "invalid header name ':'",
    "%REQ(a:b)%": "invalid header name 'a:b'",
    "%REQ(::path)%": "invalid header name '::path'",
    "%RESP(a@b)%": "invalid header name 'a@b'",
    "%REQ(é)%": "invalid header name 'é'",
    "%TRAILER(a b)%": "invalid header name 'a b'",
    # Envoy: Invalid header configuration. Format string contains newline.
    "%START_TIME(%n)%": "%START_TIME(%n)%: the time format must not print a newline",
    "%START_TIME(%E3S)%": f"%START_TIME(%E3S)%: the time specifier %E3S {NOT_SUPPORTED}",
}


@pytest.mark.parametrize("format_text, reason", TEXT.items(), ids=TEXT.keys())
def test_text_format_refused(format_text, reason):
    with pytest.raises(ConfigError) as error:
        compile_format(LogFormat(text=format_text), "x.inline_string", False)
    [(path, message)] = error.value.problems
    assert path == "x.inline_string"
    assert reason in message


ACCEPTED = ["%REQ(A_b.c~!#$&'*+^`|)%", "%REQ(:Path)%", "%REQ(:a-b_c)%", "%REQ(?x)%",
            "%REQ(x?)%", "%REQ(a):0%", "%RESPONSE_CODE_DETAILS(foo)%", "%START_TIME()%",
            "%REQ(a):18446744073709551615%"]


@pytest.mark.parametrize("format_text", ACCEPTED)
def test_formats_envoy_accepts(format_text):
    compile_format(LogFormat(text=format_text), "x", False)


def test_every_json_value_is_checked_and_reported_at_its_key():
    struct = {"ok": "%PROTOCOL%", "bad": "%FOO%", "nested": {"deeper": ["x", "%REQ(%"]},
              "also": "a %PROTOCOL(x)% b", 1: "v"}
    with pytest.raises(ConfigError) as error:
        compile_format(LogFormat(json=struct), "log_format.json_format", False)
    assert sorted(error.value.problems) == sorted([
        ("log_format.json_format.bad", "unknown command operator %FOO%"),
        ("log_format.json_format.nested.deeper[1]",
         "no command operator can be read at position 0 ('%REQ(%'); a literal % is written %%"),
        ("log_format.json_format.also",
         "%PROTOCOL(x)%: %PROTOCOL% takes no parameters and no length"),
        ("log_format.json_format.1", "expected a string key, got 1"),
    ])


def test_omit_empty_json_is_checked_the_same_way():
    with pytest.raises(ConfigError) as error:
        compile_format(LogFormat(json={"a": {"b": "%FOO%"}}, omit_empty_values=True), "j", True)
    assert error.value.problems == [("j.a.b", "unknown command operator %FOO%")]


def test_the_default_format_compiles_for_both_kinds_of_log():
    compile_format(None, "x", False)
    compile_format(None, "x", True)
