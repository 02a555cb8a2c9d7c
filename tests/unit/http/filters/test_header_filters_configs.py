"""Parsing the header mutation and header-to-metadata configs."""
import pytest

from hotproxy.config.core import HeaderValueOption
from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import header_mutation as hm
from hotproxy.config.http_filters import header_to_metadata as h2m
from hotproxy.config.route import RegexRewrite


def parse(parser, value):
    ctx = Context()
    result = parser(Node(value, "f", ctx))
    return result, ctx.problems


def test_header_mutation():
    config, problems = parse(hm.parse, {"mutations": {
        "request_mutations": [{"remove": "X-Gone"},
                              {"append": {"header": {"key": "X-A", "value": "%PROTOCOL%"},
                                          "append_action": "ADD_IF_ABSENT"}}],
        "response_mutations": [{"append": {"header": {"key": "x-b", "value": "1"}}}]},
        "most_specific_header_mutations_wins": True})
    assert problems == [] and config.runtime == "header_mutation"
    assert config.mutations.request_mutations == (
        hm.Mutation(remove="x-gone"),
        hm.Mutation(append=HeaderValueOption("x-a", "%PROTOCOL%", "ADD_IF_ABSENT")))
    assert config.mutations.response_mutations == (
        hm.Mutation(append=HeaderValueOption("x-b", "1")),)
    assert config.most_specific_header_mutations_wins
    per_route, problems = parse(hm.parse_per_route, {"mutations": {}})
    assert problems == [] and per_route == hm.HeaderMutationPerRoute()
    hash(config)


@pytest.mark.parametrize("mutation, problem", [
    ({}, ("f.mutations.request_mutations[0]", "exactly one of remove, append is required")),
    ({"remove": ":path"}, ("f.mutations.request_mutations[0].remove",
                           ":-prefixed or host headers may not be removed")),
    ({"remove": "content-length"}, ("f.mutations.request_mutations[0].remove",
                                    "content-length may not be removed: hotproxy keeps the framing")),
    ({"remove_on_match": {}}, ("f.mutations.request_mutations[0].remove_on_match",
                               "not supported by hotproxy yet")),
    ({"append": {"header": {"key": "x", "value": "%REQ(a)%"}}},
     ("f.mutations.request_mutations[0].append.header.value",
      "command operator %REQ(a)% is not supported by hotproxy yet (supported here: "
      "DOWNSTREAM_LOCAL_ADDRESS, DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT, DOWNSTREAM_REMOTE_ADDRESS,"
      " DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT, HOSTNAME, PROTOCOL, UPSTREAM_REMOTE_ADDRESS, "
      "without parameters)")),
    ({"append": {"header": {"key": "x", "value": "50%"}}},
     ("f.mutations.request_mutations[0].append.header.value",
      "no command operator can be read at position 2 of '50%'; a literal % is written %%")),
])
def test_header_mutation_refusals(mutation, problem):
    _, problems = parse(hm.parse, {"mutations": {"request_mutations": [mutation]}})
    assert problem in problems


def test_header_mutation_refuses_query_parameters():
    _, problems = parse(hm.parse, {"mutations": {"query_parameter_mutations": []}})
    assert problems == [("f.mutations.query_parameter_mutations", "not supported by hotproxy yet")]


def test_header_to_metadata():
    config, problems = parse(h2m.parse, {
        "stat_prefix": "h2m",
        "request_rules": [
            {"header": "X-Version", "remove": True,
             "on_header_present": {"metadata_namespace": "envoy.lb", "key": "version",
                                   "regex_value_rewrite": {"pattern": {"regex": "^v(\\d+)$"},
                                                           "substitution": "\\1"},
                                   "type": "NUMBER"},
             "on_header_missing": {"key": "version", "value": "0", "encode": "NONE"}},
            {"cookie": "session", "on_header_present": {"key": "s", "encode": "BASE64"}}],
        "response_rules": [{"header": "x-r", "on_header_present": {"key": "r"}}]})
    assert problems == [] and config.runtime == "header_to_metadata" and config.stat_prefix == "h2m"
    first, second = config.request_rules
    assert first.header == "x-version" and first.remove
    assert first.on_header_present == h2m.KeyValuePair(
        key="version", metadata_namespace="envoy.lb",
        regex_value_rewrite=RegexRewrite("^v(\\d+)$", "\\1"), type="NUMBER")
    assert first.on_header_missing == h2m.KeyValuePair(key="version", value="0")
    assert first.on_header_missing.metadata_namespace == "envoy.filters.http.header_to_metadata"
    assert second.cookie == "session" and second.on_header_present.encode == "BASE64"
    assert config.response_rules[0].header == "x-r"
    hash(config)
    assert parse(h2m.parse, {}) == (h2m.Config(), [])
    assert parse(h2m.parse_per_route, {})[1] == [
        ("f", "a per-route config needs request_rules or response_rules")]
    response_cookie, problems = parse(h2m.parse, {"response_rules": [
        {"cookie": "c", "on_header_present": {"key": "k"}}]})
    assert problems == [] and response_cookie.response_rules[0].cookie == "c"


@pytest.mark.parametrize("value, problem", [
    ({"request_rules": [{"header": "a"}]},
     ("f.request_rules[0]", "one of on_header_present and on_header_missing is required")),
    ({"request_rules": [{"header": "a", "cookie": "b", "on_header_present": {"key": "k"}}]},
     ("f.request_rules[0]", "only one of header, cookie may be set, got header and cookie")),
    ({"request_rules": [{"cookie": "b", "remove": True, "on_header_present": {"key": "k"}}]},
     ("f.request_rules[0].remove", "a cookie rule cannot remove the cookie")),
    ({"request_rules": [{"header": "a", "on_header_missing": {"key": "k"}}]},
     ("f.request_rules[0].on_header_missing.value",
      "on_header_missing needs a value (there is no header value to use)")),
    ({"request_rules": [{"header": "a", "on_header_present": {"key": "k", "value": "v",
                                                             "regex_value_rewrite": {
                                                                 "pattern": {"regex": "a"},
                                                                 "substitution": "b"}}}]},
     ("f.request_rules[0].on_header_present", "value and regex_value_rewrite are mutually exclusive")),
    ({"request_rules": [{"header": "a", "on_header_present": {"key": "k", "type": "PROTOBUF_VALUE"}}]},
     ("f.request_rules[0].on_header_present.type",
      "'PROTOBUF_VALUE' is not supported by hotproxy yet (supported: STRING, NUMBER)")),
    ({"request_rules": [{"header": "a", "on_header_present": {"key": ""}}]},
     ("f.request_rules[0].on_header_present.key", "must not be empty")),
])
def test_header_to_metadata_refusals(value, problem):
    assert problem in parse(h2m.parse, value)[1]
