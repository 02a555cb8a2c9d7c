"""RouteConfiguration: what each supported field parses into, and every rejection."""
import pytest
import yaml

from hotproxy.config.core import (HeaderMatcher, HeaderValueOption, QueryParameterMatcher,
                                  StringMatcher)
from hotproxy.config.route import (DirectResponseAction, RedirectAction, RegexRewrite, Route,
                                   RouteAction, RouteConfiguration, RouteMatch, VirtualHost,
                                   WeightedCluster)

from config_helpers import DELETE, HCM, ROUTE, ROUTE_CONFIG, VHOST, Rejected, ids, parse_with

ROUTE_CONFIG_YAML = r"""
name: everything
request_headers_to_add:
- header: {key: X-Config, value: c}
  append_action: OVERWRITE_IF_EXISTS
response_headers_to_remove: [X-Powered-By]
virtual_hosts:
- name: site
  domains: [example.com, "*.example.com", "example.*"]
  request_headers_to_remove: [x-debug]
  response_headers_to_add:
  - header: {key: x-vhost, value: ""}
    keep_empty_value: true
    append: false
  routes:
  - name: api
    match:
      prefix: /api
      case_sensitive: false
      headers:
      - {name: X-Version, exact_match: "2"}
      - {name: x-beta}
      - {name: x-canary, present_match: false}
      - {name: x-env, safe_regex_match: {regex: "prod|stage"}, invert_match: true}
      - name: x-user
        string_match: {suffix: "@example.com", ignore_case: true}
        treat_missing_header_as_empty: true
      query_parameters:
      - {name: debug, present_match: true}
      - {name: lang, string_match: {exact: en}}
    route:
      cluster_header: X-Cluster
      timeout: 0s
      idle_timeout: 1.5s
      host_rewrite_literal: api.internal
  - match: {path: /old}
    redirect: {https_redirect: true, host_redirect: new.example.com, path_redirect: /new,
               response_code: PERMANENT_REDIRECT, strip_query: true, port_redirect: 8443}
  - match: {safe_regex: {regex: "^/v[0-9]+/.*"}}
    direct_response: {status: 404, body: {inline_bytes: bm90IGZvdW5k}}
  - match: {path_separated_prefix: /static}
    route:
      weighted_clusters:
        clusters:
        - name: backend
          weight: 90
          request_headers_to_add: [{header: {key: x-pool, value: main}}]
        - {name: canary, weight: 10, response_headers_to_remove: [x-internal]}
        total_weight: 100
      regex_rewrite: {pattern: {regex: "^/static/(.*)$"}, substitution: /assets/\1}
      auto_host_rewrite: true
"""

EXPECTED = RouteConfiguration(
    name="everything",
    request_headers_to_add=(HeaderValueOption("x-config", "c", "OVERWRITE_IF_EXISTS"),),
    response_headers_to_remove=("x-powered-by",),
    virtual_hosts=(VirtualHost(
        name="site",
        domains=("example.com", "*.example.com", "example.*"),
        request_headers_to_remove=("x-debug",),
        response_headers_to_add=(HeaderValueOption("x-vhost", "", "OVERWRITE_IF_EXISTS_OR_ADD",
                                                   keep_empty_value=True),),
        routes=(
            Route(
                name="api",
                match=RouteMatch(
                    path_kind="prefix", path_value="/api", case_sensitive=False,
                    headers=(
                        HeaderMatcher("x-version", "exact", "2"),
                        HeaderMatcher("x-beta", "present", True),
                        HeaderMatcher("x-canary", "present", False),
                        HeaderMatcher("x-env", "safe_regex", "prod|stage", invert_match=True),
                        HeaderMatcher("x-user", "string_match",
                                      string_match=StringMatcher("suffix", "@example.com",
                                                                 ignore_case=True),
                                      treat_missing_header_as_empty=True)),
                    query_parameters=(
                        QueryParameterMatcher("debug", present_match=True),
                        QueryParameterMatcher("lang", string_match=StringMatcher("exact", "en")))),
                route=RouteAction(cluster_header="x-cluster", timeout=0.0, idle_timeout=1.5,
                                  host_rewrite_literal="api.internal")),
            Route(
                match=RouteMatch(path_kind="path", path_value="/old"),
                redirect=RedirectAction(https_redirect=True, host_redirect="new.example.com",
                                        path_redirect="/new", response_code=308,
                                        strip_query=True, port_redirect=8443)),
            Route(
                match=RouteMatch(path_kind="safe_regex", path_value="^/v[0-9]+/.*"),
                direct_response=DirectResponseAction(status=404, body=b"not found")),
            Route(
                match=RouteMatch(path_kind="path_separated_prefix", path_value="/static"),
                route=RouteAction(
                    weighted_clusters=(
                        WeightedCluster("backend", 90, request_headers_to_add=(
                            HeaderValueOption("x-pool", "main"),)),
                        WeightedCluster("canary", 10, response_headers_to_remove=(
                            "x-internal",))),
                    regex_rewrite=RegexRewrite("^/static/(.*)$", r"/assets/\1"),
                    auto_host_rewrite=True)),
        )),),
)


def test_every_supported_field_parses_into_the_dataclasses():
    bootstrap = parse_with({ROUTE_CONFIG: yaml.safe_load(ROUTE_CONFIG_YAML)})
    assert bootstrap.listeners[0].filter_chains[0].filters[0].route_config == EXPECTED


@pytest.mark.parametrize("body, expected", [
    ({"inline_string": "héllo"}, "héllo".encode()),
    ({"inline_bytes": "aGk"}, b"hi"),                  # padding is optional
    ({"inline_bytes": "-_8="}, b"\xfb\xff"),           # URL-safe alphabet
])
def test_direct_response_bodies(body, expected):
    bootstrap = parse_with({f"{ROUTE}.route": DELETE,
                            f"{ROUTE}.direct_response": {"status": 200, "body": body}})
    route_config = bootstrap.listeners[0].filter_chains[0].filters[0].route_config
    assert route_config.virtual_hosts[0].routes[0].direct_response.body == expected


def header(key, value="v"):
    return {"header": {"key": key, "value": value}}


def direct_response(response):
    return {f"{ROUTE}.route": DELETE, f"{ROUTE}.direct_response": response}


def redirect(action):
    return {f"{ROUTE}.route": DELETE, f"{ROUTE}.redirect": action}


NOT_SUPPORTED = "not supported by hotproxy yet"
WEIGHTED = f"{ROUTE}.route.weighted_clusters"
MATCH_HEADER = f"{ROUTE}.match.headers[0]"

REJECTED = [
    # Header mutations, at each level.
    Rejected({f"{ROUTE}.request_headers_to_add": [header(":authority")]},
             f"{ROUTE}.request_headers_to_add[0].header.key",
             ":-prefixed or host headers may not be modified"),
    Rejected({f"{VHOST}.response_headers_to_add": [header("Host")]},
             f"{VHOST}.response_headers_to_add[0].header.key",
             ":-prefixed or host headers may not be modified"),
    Rejected({f"{ROUTE_CONFIG}.request_headers_to_remove": [":path"]},
             f"{ROUTE_CONFIG}.request_headers_to_remove[0]",
             ":-prefixed or host headers may not be removed"),
    Rejected({f"{ROUTE}.response_headers_to_remove": ["x-a", "HOST"]},
             f"{ROUTE}.response_headers_to_remove[1]",
             ":-prefixed or host headers may not be removed"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [
        {"name": "backend", "weight": 1, "request_headers_to_add": [header("host")]}]}}},
             f"{WEIGHTED}.clusters[0].request_headers_to_add[0].header.key",
             ":-prefixed or host headers may not be modified"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [
        {"name": "backend", "weight": 1, "request_headers_to_remove": [":method"]}]}}},
             f"{WEIGHTED}.clusters[0].request_headers_to_remove[0]",
             ":-prefixed or host headers may not be removed"),
    Rejected({f"{ROUTE}.request_headers_to_remove": [""]},
             f"{ROUTE}.request_headers_to_remove[0]", "must not be empty"),
    Rejected({f"{ROUTE}.request_headers_to_add": [{"append_action": "ADD_IF_ABSENT"}]},
             f"{ROUTE}.request_headers_to_add[0].header", "required field is missing"),
    Rejected({f"{ROUTE}.request_headers_to_add": [{**header("x"), "append": True,
                                                   "append_action": "ADD_IF_ABSENT"}]},
             f"{ROUTE}.request_headers_to_add[0]",
             "append and append_action are mutually exclusive"),
    Rejected({f"{ROUTE}.request_headers_to_add": [{**header("x"), "append_action": "APPEND"}]},
             f"{ROUTE}.request_headers_to_add[0].append_action", "unknown enum value 'APPEND'"),
    Rejected({f"{ROUTE}.request_headers_to_add": [header("")]},
             f"{ROUTE}.request_headers_to_add[0].header.key", "must not be empty"),
    Rejected({f"{ROUTE}.request_headers_to_add": [header("x", "a\r\nb")]},
             f"{ROUTE}.request_headers_to_add[0].header.value", "must not contain NUL, CR or LF"),
    Rejected({f"{ROUTE}.request_headers_to_add": [{"header": {"key": "x", "raw_value": "eA=="}}]},
             f"{ROUTE}.request_headers_to_add[0].header.raw_value", NOT_SUPPORTED),
    # Route configuration and virtual hosts.
    Rejected({f"{ROUTE_CONFIG}.vhds": {}}, f"{ROUTE_CONFIG}.vhds", NOT_SUPPORTED),
    Rejected({f"{VHOST}.cors": {}}, f"{VHOST}.cors", NOT_SUPPORTED),
    Rejected({f"{VHOST}.name": DELETE}, f"{VHOST}.name", "required field is missing"),
    Rejected({f"{VHOST}.domains": []}, f"{VHOST}.domains", "at least one domain is required"),
    Rejected({f"{ROUTE_CONFIG}.virtual_hosts[1]": {"name": "b", "domains": ["*"]}},
             f"{ROUTE_CONFIG}.virtual_hosts[1].domains[0]",
             "duplicate domain '*' (already in virtual host 'app')"),
    Rejected({f"{VHOST}.domains": ["a.com", "b.com", "A.com"]}, f"{VHOST}.domains[2]",
             "duplicate domain 'A.com' (already in virtual host 'app')"),
    Rejected({f"{VHOST}.domains": ["*.a.*"]}, f"{VHOST}.domains[0]",
             "one '*' wildcard at most, at the start or the end"),
    Rejected({f"{VHOST}.domains": ["a.*.com"]}, f"{VHOST}.domains[0]",
             "one '*' wildcard at most, at the start or the end"),
    # Route match.
    Rejected({f"{ROUTE}.match": DELETE}, f"{ROUTE}.match", "required field is missing"),
    Rejected({f"{ROUTE}.match": {}}, f"{ROUTE}.match",
             "exactly one of prefix, path, safe_regex, path_separated_prefix, connect_matcher is required"),
    Rejected({f"{ROUTE}.match.path": "/a"}, f"{ROUTE}.match",
             "only one of prefix, path, safe_regex, path_separated_prefix, connect_matcher may be set, "
             "got prefix and path"),
    Rejected({f"{ROUTE}.match": {"path_separated_prefix": "/a/"}},
             f"{ROUTE}.match.path_separated_prefix",
             "it must not end with '/' nor contain '?' or '#'"),
    Rejected({f"{ROUTE}.match": {"path_separated_prefix": "/a?b"}},
             f"{ROUTE}.match.path_separated_prefix", "must not end with '/' nor contain '?'"),
    Rejected({f"{ROUTE}.match": {"path_separated_prefix": "/a#b"}},
             f"{ROUTE}.match.path_separated_prefix", "must not end with '/' nor contain '?'"),
    Rejected({f"{ROUTE}.match": {"safe_regex": {"regex": "(abc"}}},
             f"{ROUTE}.match.safe_regex.regex",
             "invalid regex: missing ), unterminated subpattern"),
    Rejected({f"{ROUTE}.match": {"safe_regex": {"regex": ""}}},
             f"{ROUTE}.match.safe_regex.regex", "must not be empty"),
    Rejected({f"{ROUTE}.match": {"safe_regex": {"regex": "a", "google_re2": {
        "max_program_size": 100}}}},
             f"{ROUTE}.match.safe_regex.google_re2.max_program_size", NOT_SUPPORTED),
    Rejected({f"{ROUTE}.match.runtime_fraction": {}},
             f"{ROUTE}.match.runtime_fraction.default_value", "required field is missing"),
    Rejected({f"{ROUTE}.match.runtime_fraction": {"default_value": {"numerator": 5},
                                                  "runtime_key": 5}},
             f"{ROUTE}.match.runtime_fraction.runtime_key", "expected a string"),
    Rejected({f"{ROUTE}.match.headers": [{"exact_match": "a"}]}, f"{MATCH_HEADER}.name",
             "required field is missing"),
    Rejected({f"{ROUTE}.match.headers": [{"name": "a", "exact_match": "a", "prefix_match": "b"}]},
             MATCH_HEADER, "may be set, got exact_match and prefix_match"),
    Rejected({f"{ROUTE}.match.headers": [{"name": "a", "prefix_match": ""}]},
             f"{MATCH_HEADER}.prefix_match", "must not be empty"),
    Rejected({f"{ROUTE}.match.headers": [{"name": "a", "range_match": {"start": 1, "end": 2}}]},
             f"{MATCH_HEADER}.range_match", NOT_SUPPORTED),
    Rejected({f"{ROUTE}.match.headers": [{"name": "a", "safe_regex_match": {"regex": "["}}]},
             f"{MATCH_HEADER}.safe_regex_match.regex", "invalid regex"),
    Rejected({f"{ROUTE}.match.headers": [{"name": "a", "string_match": {}}]},
             f"{MATCH_HEADER}.string_match",
             "exactly one of exact, prefix, suffix, safe_regex, contains is required"),
    Rejected({f"{ROUTE}.match.headers": [{"name": "a", "string_match": {"contains": ""}}]},
             f"{MATCH_HEADER}.string_match.contains", "must not be empty"),
    Rejected({f"{ROUTE}.match.headers": [{"name": "a", "string_match": {
        "safe_regex": {"regex": "a"}, "ignore_case": True}}]},
             f"{MATCH_HEADER}.string_match.ignore_case",
             "ignore_case has no effect for safe_regex"),
    Rejected({f"{ROUTE}.match.query_parameters": [{"name": "a", "present_match": True,
                                                   "string_match": {"exact": "b"}}]},
             f"{ROUTE}.match.query_parameters[0]", "only one of string_match, present_match"),
    Rejected({f"{ROUTE}.match.query_parameters": [{"present_match": True}]},
             f"{ROUTE}.match.query_parameters[0].name", "required field is missing"),
    # Route actions.
    Rejected({f"{ROUTE}.route": DELETE}, ROUTE,
             "exactly one of route, redirect, direct_response is required"),
    Rejected({f"{ROUTE}.direct_response": {"status": 200}}, ROUTE,
             "only one of route, redirect, direct_response may be set, got route and "
             "direct_response"),
    Rejected({f"{ROUTE}.filter_action": {}}, f"{ROUTE}.filter_action", NOT_SUPPORTED),
    Rejected({f"{ROUTE}.route": {}}, f"{ROUTE}.route",
             "exactly one of cluster, weighted_clusters, cluster_header is required"),
    Rejected({f"{ROUTE}.route.cluster_header": "x"}, f"{ROUTE}.route",
             "only one of cluster, weighted_clusters, cluster_header may be set"),
    Rejected({f"{ROUTE}.route.cluster": ""}, f"{ROUTE}.route.cluster", "must not be empty"),
    Rejected({f"{ROUTE}.route": {"cluster_header": ""}}, f"{ROUTE}.route.cluster_header",
             "must not be empty"),
    Rejected({f"{ROUTE}.route.cluster": "nope"}, f"{ROUTE}.route.cluster",
             "cluster 'nope' is not defined in static_resources.clusters"),
    Rejected({f"{ROUTE}.route.timeout": "-1s"}, f"{ROUTE}.route.timeout",
             "negative duration '-1s'"),
    Rejected({f"{ROUTE}.route.prefix_rewrite": "/", f"{ROUTE}.route.regex_rewrite": {
        "pattern": {"regex": "a"}, "substitution": "b"}},
             f"{ROUTE}.route", "only one of prefix_rewrite, regex_rewrite may be set"),
    Rejected({f"{ROUTE}.route.host_rewrite_literal": "a", f"{ROUTE}.route.auto_host_rewrite": True},
             f"{ROUTE}.route", "only one of host_rewrite_literal, auto_host_rewrite may be set"),
    Rejected({f"{ROUTE}.route.regex_rewrite": {"substitution": "b"}},
             f"{ROUTE}.route.regex_rewrite.pattern", "required field is missing"),
    Rejected({f"{ROUTE}.route.regex_rewrite": {"pattern": {"regex": "^/(.*)$"},
                                               "substitution": r"/\2"}},
             f"{ROUTE}.route.regex_rewrite.substitution",
             r"invalid substitution '/\2': invalid group reference 2"),
    Rejected({f"{ROUTE}.route.regex_rewrite": {"pattern": {"regex": "^/(?P<rest>.*)$"},
                                               "substitution": r"/\g<other>"}},
             f"{ROUTE}.route.regex_rewrite.substitution", "unknown group name 'other'"),
    Rejected({f"{ROUTE}.route.regex_rewrite": {"pattern": {"regex": "*"}, "substitution": ""}},
             f"{ROUTE}.route.regex_rewrite.pattern.regex", "invalid regex: nothing to repeat"),
    # Weighted clusters.
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": []}}},
             f"{WEIGHTED}.clusters", "at least one cluster is required"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [{"name": "nope",
                                                                     "weight": 1}]}}},
             f"{WEIGHTED}.clusters[0].name",
             "cluster 'nope' is not defined in static_resources.clusters"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [{"name": "backend"}]}}},
             f"{WEIGHTED}.clusters[0].weight", "required field is missing"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [{"weight": 1}]}}},
             f"{WEIGHTED}.clusters[0].name", "required field is missing"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [
        {"name": "backend", "weight": 0}, {"name": "canary", "weight": 0}]}}},
             f"{WEIGHTED}.clusters", "the sum of the weights must be greater than 0"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [
        {"name": "backend", "weight": 4294967295}, {"name": "canary", "weight": 1}]}}},
             f"{WEIGHTED}.clusters", "the sum of the weights must not exceed 4294967295"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"total_weight": 100, "clusters": [
        {"name": "backend", "weight": 1}, {"name": "canary", "weight": 2}]}}},
             f"{WEIGHTED}.total_weight", "total_weight 100 is not the sum of the weights (3)"),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"clusters": [
        {"cluster_header": "x", "weight": 1}]}}},
             f"{WEIGHTED}.clusters[0].cluster_header", NOT_SUPPORTED),
    Rejected({f"{ROUTE}.route": {"weighted_clusters": {"runtime_key_prefix": "x", "clusters": [
        {"name": "backend", "weight": 1}]}}},
             f"{WEIGHTED}.runtime_key_prefix", NOT_SUPPORTED),
    # Redirects.
    Rejected(redirect({"path_redirect": "/a", "prefix_rewrite": "/b"}), f"{ROUTE}.redirect",
             "only one of path_redirect, prefix_rewrite, regex_rewrite may be set"),
    Rejected(redirect({"https_redirect": True, "scheme_redirect": "http"}), f"{ROUTE}.redirect",
             "only one of https_redirect, scheme_redirect may be set"),
    Rejected(redirect({"response_code": 302}), f"{ROUTE}.redirect.response_code",
             "unknown enum value '302' (expected one of MOVED_PERMANENTLY, FOUND, SEE_OTHER, "
             "TEMPORARY_REDIRECT, PERMANENT_REDIRECT)"),
    # Direct responses.
    Rejected(direct_response({"status": 100}), f"{ROUTE}.direct_response.status",
             "must be between 200 and 599, got 100"),
    Rejected(direct_response({"status": 600}), f"{ROUTE}.direct_response.status",
             "must be between 200 and 599, got 600"),
    Rejected(direct_response({}), f"{ROUTE}.direct_response.status", "required field is missing"),
    Rejected(direct_response({"status": 200, "body": {"filename": "/etc/motd"}}),
             f"{ROUTE}.direct_response.body.filename", NOT_SUPPORTED),
    Rejected(direct_response({"status": 200, "body": {}}), f"{ROUTE}.direct_response.body",
             "exactly one of inline_string, inline_bytes is required"),
    Rejected(direct_response({"status": 200,
                              "body": {"inline_string": "a", "inline_bytes": "YQ=="}}),
             f"{ROUTE}.direct_response.body", "only one of inline_string, inline_bytes"),
    Rejected(direct_response({"status": 200, "body": {"inline_bytes": "a!!"}}),
             f"{ROUTE}.direct_response.body.inline_bytes", "invalid base64 'a!!'"),
    Rejected(direct_response({"status": 200, "body": {"inline_string": "a" * 4097}}),
             f"{ROUTE}.direct_response.body", "the body is 4097 bytes; Envoy's maximum is 4096"),
    Rejected(direct_response({"status": 200, "body_format": {}}),
             f"{ROUTE}.direct_response.body_format", NOT_SUPPORTED),
    # Where the route configuration comes from.
    Rejected({f"{HCM}.route_config": DELETE}, HCM, "exactly one of route_config, rds is required"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
