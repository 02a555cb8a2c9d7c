"""Reading files and text: the quickstart into exact dataclasses, JSON, duplicate keys, unreadable
and malformed input, and that every problem of a config is reported at once."""
import json
import pathlib

import pytest

from hotproxy.config import load_bootstrap, parse_bootstrap, parse_text
from hotproxy.config.trees import json_tree, yaml_tree
from hotproxy.config.bootstrap import Admin, Bootstrap
from hotproxy.config.cluster import Cluster, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import HeaderMatcher, HeaderValueOption, SocketAddress, StringMatcher
from hotproxy.config.listener import (ROUTER_FILTER, FilterChain, HealthCheck, HttpConnectionManager,
                                      HttpFilter, Listener)
from hotproxy.config.route import (DirectResponseAction, Route, RouteAction, RouteConfiguration,
                                   RouteMatch, VirtualHost)
from hotproxy.errors import ConfigError

from config_helpers import BASE_YAML, base_tree

QUICKSTART = pathlib.Path(__file__).parents[3] / "deploy" / "quickstart.yaml"


def http_listener(name, port, route_config, stat_prefix, **hcm):
    return Listener(
        name=name,
        address=SocketAddress("127.0.0.1", port),
        filter_chains=(FilterChain(filters=(
            HttpConnectionManager(stat_prefix=stat_prefix, route_config=route_config, **hcm),)),))


def any_host(name, route):
    return VirtualHost(name=name, domains=("*",), routes=(route,))


QUICKSTART_BOOTSTRAP = Bootstrap(
    listeners=(
        http_listener("ingress", 10000, RouteConfiguration(name="local_route", virtual_hosts=(
            any_host("app", Route(
                match=RouteMatch(path_kind="prefix", path_value="/"),
                route=RouteAction(cluster="demo"),
                response_headers_to_add=(
                    HeaderValueOption(key="x-hotproxy-quickstart", value="via hotproxy"),))),)),
            stat_prefix="ingress_http",
            http_filters=(HttpFilter("envoy.filters.http.health_check", HealthCheck(headers=(
                HeaderMatcher(name=":path", kind="string_match",
                              string_match=StringMatcher("exact", "/healthz")),))),
                          ROUTER_FILTER)),
        http_listener("demo_upstream", 10001, RouteConfiguration(virtual_hosts=(
            any_host("demo", Route(
                match=RouteMatch(path_kind="prefix", path_value="/"),
                direct_response=DirectResponseAction(
                    status=200, body=b"Hello from the demo upstream, through hotproxy.\n"))),)),
            stat_prefix="demo_upstream")),
    clusters=(Cluster(name="demo", type="STATIC", connect_timeout=1.0, endpoints=(
        LocalityLbEndpoints(lb_endpoints=(LbEndpoint(SocketAddress("127.0.0.1", 10001)),)),)),),
    admin=Admin(address=SocketAddress("127.0.0.1", 9901)))


def test_quickstart_parses_into_the_exact_dataclasses():
    assert load_bootstrap(str(QUICKSTART)) == QUICKSTART_BOOTSTRAP


def test_defaults_are_envoys():
    bootstrap = parse_text(QUICKSTART.read_text())
    hcm = bootstrap.listeners[0].filter_chains[0].filters[0]
    assert (hcm.codec_type, hcm.server_name, hcm.generate_request_id, hcm.use_remote_address) \
        == ("AUTO", "envoy", True, False)
    assert (hcm.idle_timeout, hcm.stream_idle_timeout, hcm.request_timeout) == (3600.0, 300.0, 0.0)
    assert (hcm.max_request_headers_kb, hcm.max_headers_count) == (60, 100)
    assert hcm.http_filters[-1] == ROUTER_FILTER
    route = hcm.route_config.virtual_hosts[0].routes[0]
    assert (route.route.timeout, route.route.idle_timeout) == (15.0, None)
    cluster = bootstrap.clusters[0]
    assert (cluster.lb_policy, cluster.dns_refresh_rate, cluster.dns_lookup_family) \
        == ("ROUND_ROBIN", 5.0, "AUTO")
    assert (cluster.max_connections, cluster.max_pending_requests, cluster.max_requests) \
        == (1024, 1024, 1024)
    assert bootstrap.stats_flush_interval == 5.0


def test_json_file_and_json_text(tmp_path):
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(base_tree(), indent="\t"))
    assert load_bootstrap(str(path)) == parse_text(BASE_YAML)
    assert parse_text(json.dumps(base_tree())) == parse_text(BASE_YAML)
    assert parse_bootstrap(base_tree()) == parse_text(BASE_YAML)


@pytest.mark.parametrize("text, path, reason", [
    ("static_resources:\n  listeners: []\n  listeners: []\n",
     "static_resources.listeners", "duplicate key 'listeners'"),
    ("static_resources:\n  clusters:\n  - name: a\n    type: STATIC\n    name: b\n",
     "static_resources.clusters[0].name", "duplicate key 'name'"),
], ids=["top-level", "nested"])
def test_duplicate_yaml_keys_are_rejected_with_their_path(text, path, reason):
    with pytest.raises(ConfigError) as info:
        parse_text(text)
    assert (path, reason) in info.value.problems


def test_duplicate_json_keys_are_rejected_with_their_path(tmp_path):
    path = tmp_path / "envoy.json"
    path.write_text('{"static_resources": {"clusters": [{"name": "a", "name": "b"}]}}')
    with pytest.raises(ConfigError) as info:
        load_bootstrap(str(path))
    assert ("static_resources.clusters[0].name", "duplicate key 'name'") in info.value.problems


def test_yaml_anchors_and_aliases_are_expanded():
    bootstrap = parse_text("""
static_resources:
  clusters:
  - {name: a, connect_timeout: &timeout 2s}
  - {name: b, connect_timeout: *timeout}
""")
    assert [(c.name, c.connect_timeout) for c in bootstrap.clusters] == [("a", 2.0), ("b", 2.0)]


def test_yaml_merge_keys_are_ordinary_keys_as_in_envoy():
    # Envoy's YAML reader does not expand '<<' either: it is an unknown field there too.
    with pytest.raises(ConfigError) as info:
        parse_text("static_resources:\n  clusters:\n  - &a {name: a}\n  - {<<: *a, name: b}\n")
    assert info.value.problems == [("static_resources.clusters[1].<<", "unknown field '<<'")]


@pytest.mark.parametrize("text, value", [
    # Booleans: YAML 1.1's words in lower, Upper or UPPER case, and y/n, as yaml-cpp has them.
    *[(word, True) for word in ("y", "Y", "yes", "Yes", "YES", "true", "True", "on", "ON")],
    *[(word, False) for word in ("n", "N", "no", "NO", "false", "off", "Off")],
    ("oN", "oN"), ("'yes'", "yes"),
    # Integers: decimal, 0x hex, 0-prefixed octal; beyond int32 a decimal string; beyond int64
    # the text as written.
    ("80", 80), ("-80", -80), ("+80", 80), ("0x50", 80), ("0120", 80), ("08", "08"),
    ("2147483648", "2147483648"), ("-2147483649", "-2147483649"),
    ("99999999999999999999", "99999999999999999999"), ("0x7fffffffffffffffff", "0x7fffffffffffffffff"),
    # Anything else is a string: floats, YAML 1.1's 1_000 and 1:30, dates, '='.
    ("1.5", "1.5"), ("1e4", "1e4"), (".inf", ".inf"), ("1_000", "1_000"), ("1:30", "1:30"),
    ("2024-01-01", "2024-01-01"), ("=", "="), ("${HOME}", "${HOME}"),
    ("~", None), ("null", None), ("", None),
    ("!!binary aGk=", "aGk="), ("!!timestamp 2001-01-01", "2001-01-01"),
])
def test_yaml_scalars_are_read_as_envoy_reads_them(text, value):
    assert yaml_tree(f"v: {text}\n") == ({"v": value}, [])


def test_yaml_keys_are_taken_as_written():
    assert yaml_tree("n: 1\n80: 2\n~: 3\n") == ({"n": 1, "80": 2, "~": 3}, [])


def test_a_second_yaml_document_is_refused():
    # Envoy reads the first document and ignores the rest without a word.
    with pytest.raises(ConfigError) as info:
        parse_text("node: {id: a}\n---\nnode: {id: b}\n")
    assert "expected a single document" in info.value.problems[0][1]


@pytest.mark.parametrize("text, reason", [
    ("", "the configuration is empty"),
    ("[]", "expected a mapping, got a list"),
    ("static_resources: [", "invalid YAML"),
    ("? [a]\n: b\n", "mapping keys must be plain strings"),
], ids=["empty", "list", "syntax", "complex-key"])
def test_malformed_documents(text, reason):
    with pytest.raises(ConfigError) as info:
        parse_text(text)
    assert [path for path, _ in info.value.problems] == [""]
    assert reason in info.value.problems[0][1]


def test_malformed_json_file(tmp_path):
    path = tmp_path / "envoy.json"
    path.write_text('{"static_resources": ')
    with pytest.raises(ConfigError) as info:
        load_bootstrap(str(path))
    assert info.value.problems[0][0] == "" and "invalid JSON" in info.value.problems[0][1]


@pytest.mark.parametrize("name, reason", [
    ("missing.yaml", "No such file or directory"),
    (".", "Is a directory"),
], ids=["missing", "directory"])
def test_unreadable_file(tmp_path, name, reason):
    path = str(tmp_path / name)
    with pytest.raises(ConfigError) as info:
        load_bootstrap(path)
    assert info.value.problems == [("", f"cannot read '{path}': {reason}")]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_text("""
static_resources:
  clusters:
  - name: a
    connect_timeout: 5
    lb_policy: ROUND_ROBBIN
    foo: 1
  - name: a
    type: EDS
tracing: {}
""")
    assert info.value.problems == [
        ("tracing", "not supported by hotproxy yet"),
        ("static_resources.clusters[0].foo", "unknown field 'foo'"),
        ("static_resources.clusters[0].connect_timeout",
         "invalid duration '5' (expected e.g. '0.25s')"),
        ("static_resources.clusters[0].lb_policy",
         "unknown enum value 'ROUND_ROBBIN' (expected one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV, "
         "CLUSTER_PROVIDED)"),
        ("static_resources.clusters[1].eds_cluster_config",
         "cannot create an EDS cluster without an EDS config"),
        ("static_resources.clusters[1].name", "duplicate cluster name 'a'"),
    ]
    assert str(info.value).splitlines()[0] == "tracing: not supported by hotproxy yet"


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a": ' * 100_000])
def test_nesting_beyond_pythons_recursion_is_refused(text):
    with pytest.raises(ConfigError) as info:
        parse_text(text)
    assert info.value.problems == [("", "nested too deeply")]


def test_integers_of_thousands_of_digits():
    assert yaml_tree("v: " + "1" * 5000)[0] == {"v": "1" * 5000}     # as written, like Envoy
    with pytest.raises(ConfigError) as info:
        json_tree('{"v": ' + "1" * 5000 + "}")
    assert "invalid JSON: Exceeds the limit" in info.value.problems[0][1]


def test_a_control_character_is_invalid_yaml_not_a_crash():
    with pytest.raises(ConfigError) as info:
        parse_text("node: {id: a\x02}")
    assert "invalid YAML: unacceptable character #x0002" in info.value.problems[0][1]
