"""%DYNAMIC_METADATA(NAMESPACE:KEY*):Z% and %FILTER_STATE(KEY:F:FIELD?):Z% in text and JSON
access logs."""
import pytest

from hotproxy.accesslog.format import compile_format
from hotproxy.config.accesslog import LogFormat
from hotproxy.errors import ConfigError

from accesslog_helpers import http_info, tcp_info


def text(fmt, info):
    return compile_format(LogFormat(text=fmt), "f", tcp=False).format(info)


def json_line(struct, info, omit_empty=False):
    return compile_format(LogFormat(json=struct, omit_empty_values=omit_empty), "f",
                          tcp=False).format(info)


def with_metadata():
    info = http_info()
    info.set_metadata("envoy.lb", "version", "v2")
    info.set_metadata("envoy.lb", "weight", 3.0)
    info.set_metadata("envoy.lb", "ratio", 0.5)
    info.set_metadata("nested", "obj", {"b": "x", "a": [1.0, True]})
    info.set_filter_state("client.name", "alice")
    info.set_filter_state("limits", {"tier": "gold", "rps": 10})
    return info


@pytest.mark.parametrize("fmt, expected", [
    ("%DYNAMIC_METADATA(envoy.lb:version)%", b"v2"),
    ("%DYNAMIC_METADATA(envoy.lb:weight)%", b"3"),
    ("%DYNAMIC_METADATA(envoy.lb:ratio)%", b"0.5"),
    ("%DYNAMIC_METADATA(envoy.lb:version):1%", b"v"),
    ("%DYNAMIC_METADATA(envoy.lb)%", b'{"ratio":0.5,"version":"v2","weight":3}'),
    ("%DYNAMIC_METADATA(nested:obj)%", b'{"a":[1,true],"b":"x"}'),
    ("%DYNAMIC_METADATA(nested:obj:b)%", b"x"),
    ("%DYNAMIC_METADATA(nested:obj:b:c)%", b"-"),
    ("%DYNAMIC_METADATA(envoy.lb:missing)%", b"-"),
    ("%DYNAMIC_METADATA(other)%", b"-"),
    ("%FILTER_STATE(client.name)%", b'"alice"'),
    ("%FILTER_STATE(client.name:PLAIN)%", b"alice"),
    ("%FILTER_STATE(client.name:PLAIN):3%", b"ali"),
    ("%FILTER_STATE(limits:FIELD:tier)%", b"gold"),
    ("%FILTER_STATE(limits:FIELD:rps)%", b"10"),
    ("%FILTER_STATE(limits:FIELD:absent)%", b"-"),
    ("%FILTER_STATE(limits)%", b'{"rps":10,"tier":"gold"}'),
    ("%FILTER_STATE(nothing)%", b"-"),
])
def test_text(fmt, expected):
    assert text(fmt, with_metadata()) == expected


def test_nothing_set_prints_missing():
    assert text("%DYNAMIC_METADATA(a:b)% %FILTER_STATE(k)%", http_info()) == b"- -"
    compiled = compile_format(LogFormat(text="%DYNAMIC_METADATA(a)%"), "f", tcp=True)
    assert compiled.format(tcp_info()) == b"-"


def test_json_keeps_types():
    line = json_line({"v": "%DYNAMIC_METADATA(envoy.lb:version)%",
                      "w": "%DYNAMIC_METADATA(envoy.lb:weight)%",
                      "o": "%DYNAMIC_METADATA(nested:obj)%",
                      "t": "%DYNAMIC_METADATA(envoy.lb:version):1%",
                      "m": "%DYNAMIC_METADATA(envoy.lb:missing)%",
                      "s": "%FILTER_STATE(limits)%",
                      "p": "%FILTER_STATE(client.name:PLAIN)%",
                      "f": "%FILTER_STATE(limits:FIELD:rps)%",
                      "in": "w=%DYNAMIC_METADATA(envoy.lb:weight)% v=%DYNAMIC_METADATA(x:y)%"},
                     with_metadata())
    assert line == (b'{"f":10,"in":"w=3 v=-","m":null,"o":{"a":[1,true],"b":"x"},"p":"alice",'
                    b'"s":{"rps":10,"tier":"gold"},"t":"v","v":"v2","w":3}\n')


def test_json_omit_empty_drops_missing():
    line = json_line({"v": "%DYNAMIC_METADATA(envoy.lb:version)%", "m": "%FILTER_STATE(x)%"},
                     with_metadata(), omit_empty=True)
    assert line == b'{"v":"v2"}\n'


@pytest.mark.parametrize("fmt, reason", [
    ("%DYNAMIC_METADATA%", "requires parameters"),
    ("%DYNAMIC_METADATA(:key)%", "requires a namespace"),
    ("%FILTER_STATE%", "requires parameters"),
    ("%FILTER_STATE(k:JSON)%", "PLAIN, TYPED and FIELD"),
    ("%FILTER_STATE(k:FIELD)%", "only with FIELD"),
    ("%FILTER_STATE(k:PLAIN:x)%", "only with FIELD"),
])
def test_refused(fmt, reason):
    with pytest.raises(ConfigError) as error:
        compile_format(LogFormat(text=fmt), "f", tcp=False)
    assert reason in str(error.value.problems)


def test_values_a_python_filter_may_leave():
    info = http_info()
    info.set_metadata("py", "mixed", {1: "one", "b": None, "a": float("nan"), "c": {"x"}})
    info.set_filter_state("raw", b"\xff")
    assert text("%DYNAMIC_METADATA(py:mixed)% %FILTER_STATE(raw:PLAIN)%", info) == (
        b'{"1":"one","a":"NaN","c":"{\'x\'}"} \xff')
