"""Header mutations: level order, append actions and command operators, as Envoy 1.40 applies
them (each expectation was observed on the real binary)."""
import socket
from types import SimpleNamespace

import pytest

from hotproxy.config.core import HeaderValueOption as Option
from hotproxy.config.route import (Route, RouteAction, RouteConfiguration, RouteMatch,
                                   VirtualHost, WeightedCluster)
from hotproxy.errors import ConfigError
from hotproxy.http.header_mutation import compile_header_level, compile_mutation, compile_value
from hotproxy.http.router.route_table import RouteTable

CTX = SimpleNamespace(remote_address="10.0.0.1:5555", remote_ip="10.0.0.1",
                      local_address="10.0.0.2:80", local_ip="10.0.0.2", protocol="HTTP/1.1",
                      upstream_address="")

OVERWRITE = "OVERWRITE_IF_EXISTS_OR_ADD"


def level_options(tag):
    return dict(
        request_headers_to_add=(Option("x-o", tag, OVERWRITE), Option("x-a", tag),
                                Option("x-i", tag, "ADD_IF_ABSENT"),
                                Option("x-ow", tag, "OVERWRITE_IF_EXISTS")),
        response_headers_to_add=(Option("r-o", tag, OVERWRITE), Option("r-a", tag),
                                 Option("r-i", tag, "ADD_IF_ABSENT")))


def layered_route():
    """The same mutations at every level, plus per-level specifics (see the Envoy lab)."""
    wc = WeightedCluster("a", 1, **level_options("wc"))
    options = level_options("route")
    options["request_headers_to_add"] += (
        Option("x-same", "1", "ADD_IF_ABSENT"), Option("x-same", "2", "ADD_IF_ABSENT"),
        Option("x-mix", "app"), Option("x-mix", "ow", OVERWRITE),
        Option("x-oo", "1", OVERWRITE), Option("x-oo", "2", OVERWRITE),
        Option("x-r", "from-route"), Option("x-empty", ""),
        Option("x-keep", "", keep_empty_value=True), Option("x-ups", "%UPSTREAM_REMOTE_ADDRESS%"),
        Option("x-pos", "new", OVERWRITE), Option("x-rmadd", "added"))
    route = Route(RouteMatch("prefix", "/"), route=RouteAction(weighted_clusters=(wc,)),
                  request_headers_to_remove=("x-rmadd", "x-client-rm"), **options)
    vhost = VirtualHost("v", ("*",), (route,), request_headers_to_remove=("x-r",),
                        **level_options("vhost"))
    table = RouteTable(RouteConfiguration(virtual_hosts=(vhost,), **level_options("global")))
    return table.match(b"x", b"/", [])


def test_request_levels_apply_weighted_cluster_route_vhost_then_global():
    route = layered_route()
    name, entry = route.pick_cluster([])
    assert route.has_request_mutations
    headers = [(b"host", b"x"), (b"x-pos", b"old"), (b"x-first", b"1"), (b"x-ow", b"client"),
               (b"x-client-rm", b"1"), (b"x-client-rm", b"2"), (b"x-i", b"client"),
               (b"x-last", b"1")]
    result = route.mutate_request(headers, entry, CTX)
    assert result == [
        (b"host", b"x"), (b"x-first", b"1"), (b"x-i", b"client"), (b"x-last", b"1"),
        (b"x-a", b"wc"),
        (b"x-mix", b"ow"), (b"x-oo", b"2"), (b"x-pos", b"new"),
        (b"x-a", b"route"), (b"x-same", b"1"), (b"x-same", b"2"), (b"x-mix", b"app"),
        (b"x-keep", b""), (b"x-rmadd", b"added"),
        (b"x-a", b"vhost"),
        (b"x-o", b"global"), (b"x-ow", b"global"), (b"x-a", b"global")]


def test_response_levels_apply_in_the_same_order():
    route = layered_route()
    _, entry = route.pick_cluster([])
    result = route.mutate_response([(b"r-o", b"up"), (b"r-i", b"up"), (b"r-a", b"up")], entry, CTX)
    assert result == [(b"r-i", b"up"), (b"r-a", b"up"), (b"r-a", b"wc"), (b"r-a", b"route"),
                      (b"r-a", b"vhost"), (b"r-o", b"global"), (b"r-a", b"global")]


def test_without_weighted_entry_the_cluster_level_is_skipped():
    route = layered_route()
    result = route.mutate_request([], None, CTX)
    assert (b"x-a", b"wc") not in result and (b"x-a", b"route") in result


def level(*options, remove=()):
    return compile_header_level(options, remove, "virtual_hosts[0]", "request")


@pytest.mark.parametrize("action, before, after", [
    ("APPEND_IF_EXISTS_OR_ADD", [(b"k", b"old")], [(b"k", b"old"), (b"k", b"new")]),
    ("APPEND_IF_EXISTS_OR_ADD", [], [(b"k", b"new")]),
    ("ADD_IF_ABSENT", [(b"k", b"old")], [(b"k", b"old")]),
    ("ADD_IF_ABSENT", [], [(b"k", b"new")]),
    ("OVERWRITE_IF_EXISTS_OR_ADD", [(b"k", b"1"), (b"z", b""), (b"k", b"2")],
     [(b"z", b""), (b"k", b"new")]),
    ("OVERWRITE_IF_EXISTS_OR_ADD", [], [(b"k", b"new")]),
    ("OVERWRITE_IF_EXISTS", [(b"k", b"old"), (b"z", b"")], [(b"z", b""), (b"k", b"new")]),
    ("OVERWRITE_IF_EXISTS", [(b"z", b"")], [(b"z", b"")]),
])
def test_append_actions(action, before, after):
    mutate = compile_mutation([level(Option("k", "new", action))])
    assert mutate(list(before), CTX) == after


def test_removal_drops_every_value_and_comes_before_additions():
    mutate = compile_mutation([level(Option("k", "new"), remove=("k", "Gone"))])
    headers = [(b"k", b"1"), (b"gone", b"x"), (b"a", b"b"), (b"k", b"2")]
    assert mutate(headers, CTX) == [(b"a", b"b"), (b"k", b"new")]


def test_empty_values_are_skipped_unless_kept():
    mutate = compile_mutation([level(Option("e", ""), Option("k", "", keep_empty_value=True),
                                     Option("u", "%UPSTREAM_REMOTE_ADDRESS%"),
                                     Option("uk", "%UPSTREAM_REMOTE_ADDRESS%",
                                            keep_empty_value=True))])
    assert mutate([], CTX) == [(b"k", b""), (b"uk", b"")]


def test_nothing_to_do_compiles_to_none():
    assert compile_header_level((), (), "", "request") is None
    assert compile_header_level((Option("k", ""),), (), "", "request") is None
    assert compile_mutation([None, None]) is None
    plain = Route(RouteMatch("prefix", "/"), route=RouteAction(cluster="a"))
    table = RouteTable(RouteConfiguration(virtual_hosts=(VirtualHost("v", ("*",), (plain,)),)))
    route = table.match(b"x", b"/", [])
    assert not route.has_request_mutations and not route.has_response_mutations
    headers = [(b"a", b"b")]
    assert route.mutate_request(headers, None, CTX) is headers


def test_static_appends_of_several_levels_merge_into_one_extend():
    mutate = compile_mutation([level(Option("a", "1")), None, level(Option("b", "2"))])
    headers = [(b"h", b"v")]
    assert mutate(headers, CTX) is headers
    assert headers == [(b"h", b"v"), (b"a", b"1"), (b"b", b"2")]


# --- command operators -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("plain", b"plain"), ("100%%", b"100%"), ("%%x%%", b"%x%"), ("", b""),
    ("%PROTOCOL%:3", b"HTTP/1.1:3"),
    ("%DOWNSTREAM_REMOTE_ADDRESS%|%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%|"
     "%DOWNSTREAM_LOCAL_ADDRESS%|%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%|%PROTOCOL%",
     b"10.0.0.1:5555|10.0.0.1|10.0.0.2:80|10.0.0.2|HTTP/1.1"),
    ("%UPSTREAM_REMOTE_ADDRESS%", b""),
])
def test_operators(text, expected):
    value = compile_value(text, "w")
    assert (value if isinstance(value, bytes) else value(CTX)) == expected


def test_hostname_and_literals_are_precomputed():
    assert compile_value("h=%HOSTNAME%", "w") == b"h=" + socket.gethostname().encode()


def test_operator_values_may_be_bytes_too():
    ctx = SimpleNamespace(upstream_address=b"10.1.1.1:80")
    assert compile_value("%UPSTREAM_REMOTE_ADDRESS%", "w")(ctx) == b"10.1.1.1:80"


@pytest.mark.parametrize("text, reason", [
    ("%REQ(x-a)%", "command operator %REQ(x-a)% is not supported by hotproxy yet"),
    ("a%START_TIME%", "command operator %START_TIME% is not supported by hotproxy yet"),
    ("%PROTOCOL(x)%", "PROTOCOL does not take any parameters or length"),
    ("%HOSTNAME:3%", "HOSTNAME does not take any parameters or length"),
    ("50%", "Incorrect configuration: 50%. Couldn't find valid command at position 2"),
    ("%foo%", "Incorrect configuration: %foo%. Couldn't find valid command at position 0"),
    ("%%%", "Incorrect configuration: %%%. Couldn't find valid command at position 2"),
    ("%PROTOCOL%PROTOCOL%",
     "Incorrect configuration: %PROTOCOL%PROTOCOL%. Couldn't find valid command at position 18"),
])
def test_operator_errors(text, reason):
    with pytest.raises(ConfigError) as error:
        compile_value(text, "request_headers_to_add[0].header.value")
    assert error.value.problems == [("request_headers_to_add[0].header.value", reason)]


def test_unsupported_operator_error_path_in_a_route_table():
    route = Route(RouteMatch("prefix", "/"), route=RouteAction(cluster="a"),
                  response_headers_to_add=(Option("ok", "1"), Option("x", "%REQ(a)%")))
    with pytest.raises(ConfigError) as error:
        RouteTable(RouteConfiguration(virtual_hosts=(VirtualHost("v", ("*",), (route,)),)))
    assert error.value.problems == [(
        "virtual_hosts[0].routes[0].response_headers_to_add[1].header.value",
        "command operator %REQ(a)% is not supported by hotproxy yet")]


def test_global_and_weighted_cluster_error_paths():
    wc = WeightedCluster("a", 1, request_headers_to_add=(Option("x", "%BAD%"),))
    route = Route(RouteMatch("prefix", "/"), route=RouteAction(weighted_clusters=(wc,)))
    with pytest.raises(ConfigError) as error:
        RouteTable(RouteConfiguration(
            virtual_hosts=(VirtualHost("v", ("*",), (route,)),),
            request_headers_to_remove=("host",)))
    assert error.value.problems == [
        ("request_headers_to_remove[0]", ":-prefixed or host headers may not be removed"),
        ("virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0]"
         ".request_headers_to_add[0].header.value",
         "command operator %BAD% is not supported by hotproxy yet")]


@pytest.mark.parametrize("key", [":path", "host", ":authority"])
def test_pseudo_and_host_headers_cannot_be_modified(key):
    with pytest.raises(ConfigError) as error:
        compile_header_level((Option(key, "x"),), (), "virtual_hosts[0]", "response")
    assert error.value.problems == [("virtual_hosts[0].response_headers_to_add[0].header.key",
                                     ":-prefixed or host headers may not be modified")]


@pytest.mark.parametrize("remove, add", [
    (("content-length",), ()),
    ((), (Option("content-length", "99"),)),
    ((), (Option("Content-Length", "99", OVERWRITE),)),
    (("transfer-encoding",), (Option("transfer-encoding", "chunked"),)),
])
def test_a_level_never_changes_the_framing(remove, add):
    mutate = compile_mutation([compile_header_level(add, remove, "route", "request")])
    headers = [(b"host", b"h"), (b"content-length", b"5"), (b"x-a", b"1")]
    framing = [h for h in mutate(list(headers), CTX) if h[0] in (b"content-length", b"transfer-encoding")]
    assert framing == [(b"content-length", b"5")]
    assert [h for h in mutate([(b"host", b"h")], CTX) if h[0] == b"content-length"] == []
