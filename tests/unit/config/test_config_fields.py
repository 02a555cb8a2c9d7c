"""How single values are read, as Envoy reads proto3 JSON: durations, booleans, integers, enums,
strings, and a message's fields (unknown, not supported, lowerCamelCase, null)."""
import pytest

from hotproxy.config import parse_text
from hotproxy.config.fields import Context, Enum, Fields, Node, typed_config

from config_helpers import CLUSTER, LISTENER, Rejected, edited, ids, problems_of


def read(method, value, *args):
    """(result, problems) of reading ``value`` at path ``f`` with Node.<method>."""
    ctx = Context()
    result = getattr(Node(value, "f", ctx), method)(*args)
    return result, [reason for _, reason in ctx.problems]


@pytest.mark.parametrize("value, seconds", [
    ("1s", 1.0), ("0.25s", 0.25), ("1.000000001s", 1.000000001), ("0s", 0.0), ("01s", 1.0),
    ({"seconds": 1, "nanos": 500000000}, 1.5), ({"seconds": "2"}, 2.0), ({}, 0.0),
])
def test_valid_durations(value, seconds):
    assert read("duration", value) == (seconds, [])


@pytest.mark.parametrize("value, reason", [
    (5, "invalid duration '5' (expected e.g. '0.25s')"),
    ("5", "invalid duration '5' (expected e.g. '0.25s')"),
    ("1ms", "invalid duration '1ms'"),
    (".5s", "invalid duration '.5s'"),
    ("1.s", "invalid duration '1.s'"),
    ("1.0000000001s", "invalid duration '1.0000000001s'"),
    ("+1s", "invalid duration '+1s'"),
    ("1S", "invalid duration '1S'"),
    ("100000000000000s", "invalid duration '100000000000000s'"),
    ({"seconds": 1, "foo": 1}, "invalid duration {'seconds': 1, 'foo': 1}"),
    ({"nanos": 1000000000}, "invalid duration {'nanos': 1000000000}"),
    (True, "invalid duration true"),
    ("-1s", "negative duration '-1s'"),
    ({"seconds": -1}, "negative duration {'seconds': -1}"),
])
def test_invalid_durations(value, reason):
    result, problems = read("duration", value)
    assert result is None and len(problems) == 1 and reason in problems[0]


@pytest.mark.parametrize("value, result, problems", [
    (True, True, []),
    (False, False, []),
    # Envoy 1.40 reads these strings as booleans (absl::SimpleAtob), in any case.
    *[(word, True, []) for word in ("true", "TRUE", "t", "yes", "Y", "1")],
    *[(word, False, []) for word in ("false", "f", "No", "n", "0")],
    ("on", None, ["expected a boolean, got 'on'"]),
    (" true", None, ["expected a boolean, got ' true'"]),
    (1, None, ["expected a boolean, got 1"]),
])
def test_booleans(value, result, problems):
    assert read("boolean", value) == (result, problems)


@pytest.mark.parametrize("value, bounds, result, problems", [
    (80, (), 80, []),
    ("80", (), 80, []),                 # proto3 JSON takes integers as strings too
    (80.0, (), 80, []),
    # ... and Envoy 1.40 these spellings of them
    *[(text, (), 80, []) for text in ("80.0", "8e1", "8E+1", ".8e2", "80.", "+80", "0x50", "0X50")],
    ("080", (), 80, []),                # decimal when quoted; YAML's unquoted 080 is octal
    *[(text, (), None, [f"expected an integer, got '{text}'"])
      for text in (" 80", "80 ", "8e-1", "1_000", "0o10", "1e999999999", "0x" + "f" * 5000)],
    (80.5, (), None, ["expected an integer, got 80.5"]),
    (True, (), None, ["expected an integer, got true"]),
    ("eighty", (), None, ["expected an integer, got 'eighty'"]),
    (-1, (), None, ["must be between 0 and 4294967295, got -1"]),
    (2**32, (), None, ["must be between 0 and 4294967295, got 4294967296"]),
    (0, (1, 8192), None, ["must be between 1 and 8192, got 0"]),
])
def test_uint32(value, bounds, result, problems):
    assert read("uint32", value, *bounds) == (result, problems)


@pytest.mark.parametrize("value, result, problems", [
    (0.95, 0.95, []), (1, 1.0, []),
    # Envoy 1.40 reads doubles from strings too, spaces around them allowed; YAML floats are
    # strings by the time they get here.
    ("0.95", 0.95, []), ("1e-1", 0.1, []), (" 0.5", 0.5, []),
    ("half", None, ["expected a number, got 'half'"]),
    (True, None, ["expected a number, got true"]),
    (10**400, None, [f"expected a number, got {10**400!r}"]),
])
def test_doubles(value, result, problems):
    assert read("double", value) == (result, problems)


CODECS = Enum("AUTO HTTP1", unsupported="HTTP2")


@pytest.mark.parametrize("value, result, problems", [
    ("HTTP1", "HTTP1", []),
    ("http1", "HTTP1", []),             # Envoy's reader takes any case
    ("HTTP2", None, ["'HTTP2' is not supported by hotproxy yet (supported: AUTO, HTTP1)"]),
    ("HTTP9", None, ["unknown enum value 'HTTP9' (expected one of AUTO, HTTP1)"]),
    # Envoy takes an enum's number too; hotproxy takes names only (docs/envoy-reference.md).
    (1, None, ["unknown enum value '1' (expected one of AUTO, HTTP1)"]),
])
def test_enums(value, result, problems):
    assert read("enum", value, CODECS) == (result, problems)


@pytest.mark.parametrize("value, http_safe, result, problems", [
    ("a b", True, "a b", []),
    (123, False, None, ["expected a string, got 123"]),
    (None, False, None, ["expected a string, got null"]),
    ("a\r\nb", True, None, ["must not contain NUL, CR or LF, got 'a\\r\\nb'"]),
    ("a\r\nb", False, "a\r\nb", []),
])
def test_strings(value, http_safe, result, problems):
    assert read("string", value, http_safe) == (result, problems)


def test_message_fields_unknown_unsupported_camel_case_and_null():
    ctx = Context()
    fields = Fields("port_value address", unsupported="named_port")
    m = Node({"portValue": 80, "named_port": "http", "foo": 1, "address": None}, "a", ctx) \
        .message(fields)
    assert m.uint32("port_value") == 80
    assert not m.has("address")         # null is unset, as in proto3 JSON
    assert ctx.problems == [("a.named_port", "not supported by hotproxy yet"),
                            ("a.foo", "unknown field 'foo'")]


def test_a_field_given_in_both_spellings_is_set_twice():
    ctx = Context()
    Node({"port_value": 1, "portValue": 2}, "a", ctx).message(Fields("port_value"))
    assert ctx.problems == [("a.portValue", "field 'port_value' is set twice")]


def test_typed_config_unknown_and_unsupported_types():
    ctx = Context()
    parsers = {"type.googleapis.com/x.Y": lambda node: node.value}
    assert typed_config(Node({"@type": "type.googleapis.com/x.Y", "a": 1}, "t", ctx), parsers) \
        == {"a": 1}
    typed_config(Node({"@type": "type.googleapis.com/foo.Bar"}, "t", ctx), parsers)
    typed_config(Node({"@type": "type.googleapis.com/envoy.a.B"}, "t", ctx), parsers)
    typed_config(Node({}, "t", ctx), parsers)
    assert ctx.problems == [
        ("t.@type", "unknown type URL 'type.googleapis.com/foo.Bar' "
                    "(expected one of type.googleapis.com/x.Y)"),
        ("t.@type", "type 'type.googleapis.com/envoy.a.B' is not supported by hotproxy yet here "
                    "(supported: type.googleapis.com/x.Y)"),
        ("t.@type", "required field is missing"),
    ]


def test_camel_case_names_are_accepted_throughout():
    bootstrap = parse_text("""
staticResources:
  clusters:
  - name: a
    connectTimeout: 2s
    loadAssignment:
      clusterName: a
      endpoints:
      - lbEndpoints:
        - endpoint: {address: {socketAddress: {address: 10.0.0.1, portValue: 80}}}
""")
    cluster = bootstrap.clusters[0]
    assert cluster.connect_timeout == 2.0
    assert cluster.endpoints[0].lb_endpoints[0].address.port == 80


# The same rules, seen through whole configs.
REJECTED = [
    Rejected({f"{CLUSTER}.foo": 1}, f"{CLUSTER}.foo", "unknown field 'foo'"),
    Rejected({f"{CLUSTER}.outlier_detection": {"monitors": []}}, f"{CLUSTER}.outlier_detection.monitors",
             "not supported by hotproxy yet"),
    Rejected({f"{CLUSTER}.connect_timeout": 5}, f"{CLUSTER}.connect_timeout",
             "invalid duration '5' (expected e.g. '0.25s')"),
    Rejected({f"{LISTENER}.enable_reuse_port": "maybe"}, f"{LISTENER}.enable_reuse_port",
             "expected a boolean, got 'maybe'"),
    Rejected({f"{CLUSTER}.lb_policy": "ROUND_ROBBIN"}, f"{CLUSTER}.lb_policy",
             "unknown enum value 'ROUND_ROBBIN' (expected one of ROUND_ROBIN, LEAST_REQUEST, "
             "RANDOM, RING_HASH, MAGLEV, CLUSTER_PROVIDED)"),
    Rejected({f"{CLUSTER}.name": 5}, f"{CLUSTER}.name", "expected a string, got 5"),
    Rejected({f"{CLUSTER}.load_assignment": "a"}, f"{CLUSTER}.load_assignment",
             "expected a mapping, got 'a'"),
    Rejected({f"{CLUSTER}.load_assignment.endpoints": {}}, f"{CLUSTER}.load_assignment.endpoints",
             "expected a list, got a mapping"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()


def test_only_the_problem_is_reported():
    assert problems_of(edited({f"{CLUSTER}.foo": 1})) == [(f"{CLUSTER}.foo", "unknown field 'foo'")]
