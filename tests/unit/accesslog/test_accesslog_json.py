"""JSON formats: key order, value types, escaping, literals and omit_empty_values, against the
lines Envoy 1.40 wrote for the same json_format (quoted in the comments)."""
import pytest

from accesslog_helpers import http_info, json_line

HTTP = http_info()


def test_keys_are_sorted_at_every_level_and_types_kept():
    # Envoy: {"bool":true,"code":200,"int":7,"literal":"plain","mixed":"code=200 flags=-",
    #         "nested":{"a":"HTTP/1.1","z":200}}
    struct = {"mixed": "code=%RESPONSE_CODE% flags=%RESPONSE_FLAGS%", "literal": "plain",
              "int": 7, "bool": True, "code": "%RESPONSE_CODE%",
              "nested": {"z": "%RESPONSE_CODE%", "a": "%PROTOCOL%"}}
    assert json_line(struct, HTTP) == (
        b'{"bool":true,"code":200,"int":7,"literal":"plain","mixed":"code=200 flags=-",'
        b'"nested":{"a":"HTTP/1.1","z":200}}\n')


def test_keys_sort_bytewise():
    # Envoy with json_format_options.sort_properties false: {"C":"3","a":"2","b":"1"}
    assert json_line({"b": "1", "a": "2", "C": "3"}, HTTP) == b'{"C":"3","a":"2","b":"1"}\n'


def test_missing_values_are_null_alone_and_dash_inside_a_string():
    # Envoy: "miss":null,"mixed":"a - b"  and for an empty header value "ua":""
    struct = {"miss": "%REQ(x-missing)%", "mixed": "a %REQ(x-missing)% b",
              "ua": "%REQ(user-agent)%"}
    info = http_info(request_headers=[(b"user-agent", b"")])
    assert json_line(struct, info) == b'{"miss":null,"mixed":"a - b","ua":""}\n'


def test_lists_and_nesting():
    # Envoy: "list":[200,1,"x",{"k":"HTTP/1.1"}]
    struct = {"list": ["%RESPONSE_CODE%", 1, "x", {"k": "%PROTOCOL%"}], "empty": [], "obj": {}}
    assert json_line(struct, HTTP) == (
        b'{"empty":[],"list":[200,1,"x",{"k":"HTTP/1.1"}],"obj":{}}\n')


LITERALS = {
    # value as read from YAML → as Envoy printed it
    "string": ("plain", b'"plain"'),
    "empty string": ("", b'""'),
    "escaped percent": ("100%%", b'"100%"'),
    "percent without operator": ("%%", b'"%"'),
    "true": (True, b"true"),
    "false": (False, b"false"),
    "null": (None, b"null"),
    "int": (7, b"7"),
    "negative int": (-3, b"-3"),
    "int32 max": (2147483647, b"2147483647"),
    "int32 min": (-2147483648, b"-2147483648"),
    "beyond int32: string": (2147483648, b'"2147483648"'),
    "below int32: string": (-2147483649, b'"-2147483649"'),
    "big int: string": (123456789012345678, b'"123456789012345678"'),
    "float: string": (2.5, b'"2.5"'),
    "integral float: string": (7.0, b'"7.0"'),
}


@pytest.mark.parametrize("value, printed", LITERALS.values(), ids=LITERALS.keys())
def test_literal_values_as_envoy_reads_them_from_yaml(value, printed):
    assert json_line({"v": value}, HTTP) == b'{"v":%b}\n' % printed


def test_escaping_of_keys_literals_and_values():
    # Envoy: {"k\"ey\n":"v","lit":"a\nb\u0001c<DEL>d\te<U+0080>f<U+1F600>","path":"/a\"b",
    #         "ua":"x\"y\\z\tw é"}
    struct = {"k\"ey\n": "v", "lit": "a\nb\x01c\x7fd\te\u0080f\U0001F600",
              "path": "%REQ(:PATH)%", "ua": "%REQ(user-agent)%"}
    info = http_info(path=b'/a"b', request_headers=[(b"user-agent", b'x"y\\z\tw \xc3\xa9')])
    assert json_line(struct, info) == (
        b'{"k\\"ey\\n":"v","lit":"a\\nb\\u0001c\x7fd\\te\xc2\x80f\xf0\x9f\x98\x80",'
        b'"path":"/a\\"b","ua":"x\\"y\\\\z\\tw \xc3\xa9"}\n')


def test_invalid_utf8_escapes_every_byte_but_plain_ascii():
    # Envoy, user-agent a"b\c<TAB>d é <FF><FE> <ED A0 80> <F0 9F 98 80> z:
    # "ua":"a\u0022b\u005cc\u0009d \u00c3\u00a9 \u00ff\u00fe \u00ed\u00a0\u0080
    #       \u00f0\u009f\u0098\u0080 z", and within "<%REQ(user-agent)%>" only the value is.
    value = b'a"b\\c\td \xc3\xa9 \xff\xfe \xed\xa0\x80 \xf0\x9f\x98\x80 z'
    escaped = (b'a\\u0022b\\u005cc\\u0009d \\u00c3\\u00a9 \\u00ff\\u00fe \\u00ed\\u00a0\\u0080 '
               b'\\u00f0\\u009f\\u0098\\u0080 z')
    info = http_info(request_headers=[(b"user-agent", value)])
    assert json_line({"mix": "<%REQ(user-agent)%>", "ua": "%REQ(user-agent)%"}, info) == (
        b'{"mix":"<%b>","ua":"%b"}\n' % (escaped, escaped))


def test_an_empty_json_format_prints_an_empty_object():
    assert json_line({}, HTTP) == b"{}\n"


OMIT_EMPTY = {
    # json_format (M: a missing value) → what Envoy 1.40 printed with omit_empty_values
    "mixed object": ({"n": {"x": "M", "y": "%RESPONSE_CODE%"}}, b'{"n":{"y":200}}'),
    "empty literal object drops": ({"n": {}, "a": "1"}, b'{"a":"1"}'),
    "object of an empty list stays": ({"n": {"l": []}}, b'{"n":{"l":[]}}'),
    "nulls leave a list": ({"n": {"l": ["M"]}}, b'{"n":{"l":[]}}'),
    "emptied object leaves a list": ({"l": [{"x": "M"}, "a"]}, b'{"l":["a"]}'),
    "empty literal list stays": ({"l": []}, b'{"l":[]}'),
    "deep emptiness drops": ({"a": {"b": {"c": "M"}}, "z": "1"}, b'{"z":"1"}'),
    "all dropped": ({"a": "M"}, b"{}"),
    "nested lists": ({"l": [["M"], ["M", "x"]]}, b'{"l":[[],["x"]]}'),
    "first and last dropped": ({"a": "M", "b": "x", "c": "M"}, b'{"b":"x"}'),
    "null literal drops": ({"a": None, "b": "x"}, b'{"b":"x"}'),
    "strings stay": ({"e": "", "p": "%%"}, b'{"e":"","p":"%"}'),
    "missing inside a string": ({"m": "a %REQ(x-missing)% b"}, b'{"m":"a  b"}'),
}


@pytest.mark.parametrize("struct, line", OMIT_EMPTY.values(), ids=OMIT_EMPTY.keys())
def test_omit_empty_values(struct, line):
    def missing_for_m(value):
        if isinstance(value, dict):
            return {key: missing_for_m(item) for key, item in value.items()}
        if isinstance(value, list):
            return [missing_for_m(item) for item in value]
        return "%REQ(x-missing)%" if value == "M" else value
    assert json_line(missing_for_m(struct), HTTP, omit_empty_values=True) == line + b"\n"
