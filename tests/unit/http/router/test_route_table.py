"""RouteTable: virtual host and route selection, checked against Envoy 1.40's behaviour."""
import pytest

from hotproxy.config.core import HeaderMatcher, QueryParameterMatcher, StringMatcher
from hotproxy.config.route import (DirectResponseAction, RedirectAction, RegexRewrite, Route,
                                   RouteAction, RouteConfiguration, RouteMatch, VirtualHost)
from hotproxy.errors import ConfigError
from hotproxy.http.router.route_table import DIRECT_RESPONSE, REDIRECT, ROUTE, RouteTable


def route(name, kind="prefix", value="/", case_sensitive=True, headers=(), query=()):
    return Route(RouteMatch(kind, value, case_sensitive, tuple(headers), tuple(query)), name=name,
                 route=RouteAction(cluster=name))


def table(*vhosts, name="rc"):
    return RouteTable(RouteConfiguration(name=name, virtual_hosts=tuple(vhosts)))


def vhost(name, domains, routes=None):
    return VirtualHost(name, tuple(domains), routes or (route(name),))


def matched(rt, path="/", host=b"x", headers=(), **kw):
    result = rt.match(host, path if isinstance(path, bytes) else path.encode(), list(headers), **kw)
    return None if result is None else result.name


# --- virtual hosts -----------------------------------------------------------------------------

DOMAINS = table(
    vhost("exact", ["example.com"]), vhost("exact_port", ["example.com:8080"]),
    vhost("suffix", ["*.foo.com"]), vhost("suffix_long", ["*-bar.foo.com"]),
    vhost("prefix", ["foo.*"]), vhost("prefix_long", ["foo.bar.*"]),
    vhost("upper", ["UPPER.com"]), vhost("suffix_port", ["*.port.com:81"]),
    vhost("star", ["*"]))


@pytest.mark.parametrize("host, expected", [
    ("example.com", "exact"), ("EXAMPLE.com", "exact"),
    ("example.com:8080", "exact_port"), ("example.com:9090", "star"), ("example.com:80", "star"),
    ("a.foo.com", "suffix"), ("a.b.foo.com", "suffix"), ("x-bar.foo.com", "suffix_long"),
    # a wildcard must cover at least one character: "-bar.foo.com" is not "*-bar.foo.com"
    ("-bar.foo.com", "suffix"), (".foo.com", "star"), ("a.foo.com:8080", "star"),
    ("foo.com", "prefix"), ("foo.x", "prefix"), ("foo.bar.x", "prefix_long"), ("foo.", "star"),
    ("upper.com", "upper"), ("UPPER.COM", "upper"),
    ("a.port.com:81", "suffix_port"), ("a.port.com", "star"),
    ("zzz", "star"), ("", "star"), ("[::1]:80", "star"), ("example.com.", "star"),
])
def test_virtual_host_selection(host, expected):
    assert matched(DOMAINS, host=host.encode()) == expected


def test_exact_beats_wildcards_and_suffix_beats_prefix():
    rt = table(vhost("suffix", ["*.example.com"]), vhost("prefix", ["api.*"]),
               vhost("exact", ["api.example.com"]))
    assert matched(rt, host=b"api.example.com") == "exact"
    assert matched(rt, host=b"web.example.com") == "suffix"
    assert matched(rt, host=b"api.example.org") == "prefix"
    rt = table(vhost("suffix", ["*.example.com"]), vhost("prefix", ["api.*"]))
    assert matched(rt, host=b"api.example.com") == "suffix"


def test_no_default_virtual_host_means_no_route():
    rt = table(vhost("exact", ["example.com"]))
    assert matched(rt, host=b"other.com") is None


def test_duplicate_domains_and_wildcards_are_rejected():
    with pytest.raises(ConfigError) as error:
        table(vhost("a", ["a.com", "A.com"]))
    assert error.value.problems == [(
        "virtual_hosts[0].domains[1]",
        "Only unique values for domains are permitted. Duplicate entry of domain a.com in "
        "route rc")]
    with pytest.raises(ConfigError) as error:
        table(vhost("a", ["*"]), vhost("b", ["*"]))
    assert error.value.problems == [(
        "virtual_hosts[1].domains[0]", "Only a single wildcard domain is permitted in route rc")]


# --- path matching -----------------------------------------------------------------------------

PATHS = table(vhost("v", ["*"], [
    route("exact_nocase", "path", "/Exact", case_sensitive=False),
    route("exact", "path", "/exact"),
    route("separated", "path_separated_prefix", "/psp"),
    route("separated_nocase", "path_separated_prefix", "/PSPci", case_sensitive=False),
    route("regex", "safe_regex", "/re/[0-9]+"),
    route("prefix_nocase", "prefix", "/CI/", case_sensitive=False),
    route("never", "prefix", "/pq?x"),
    route("regex_any_z", "safe_regex", ".*z.*"),
    route("api", "prefix", "/api"),
    route("fallback", "prefix", "/"),
]))


@pytest.mark.parametrize("path, expected", [
    ("/exact", "exact_nocase"), ("/EXACT", "exact_nocase"), ("/exact?q=1", "exact_nocase"),
    ("/exact/", "fallback"),
    ("/psp", "separated"), ("/psp/", "separated"), ("/psp/a/b", "separated"),
    ("/psp?x", "separated"), ("/pspx", "fallback"), ("/PSP", "fallback"),
    ("/pspci/a", "separated_nocase"), ("/PSPCI", "separated_nocase"),
    ("/re/123", "regex"), ("/re/123?x", "regex"), ("/re/12a", "fallback"),
    ("/ci/a", "prefix_nocase"), ("/Ci/x", "prefix_nocase"),
    ("/pq?x", "fallback"), ("/pq?xyz", "fallback"),
    ("/a?z=1", "fallback"), ("/za", "regex_any_z"),
    ("/api", "api"), ("/apis/v1?z", "api"), ("/Api", "fallback"),
])
def test_path_match_kinds(path, expected):
    assert matched(PATHS, path) == expected


def test_fragment_is_not_part_of_the_path():
    assert matched(PATHS, "/exact#frag") == "exact_nocase"
    assert matched(PATHS, "/psp#frag") == "separated"
    assert matched(PATHS, "/re/1#z") == "regex"


def test_first_matching_route_wins_and_no_match_is_none():
    rt = table(vhost("v", ["*"], [route("first", "prefix", "/a"), route("second", "prefix", "/")]))
    assert matched(rt, "/abc") == "first"
    assert matched(rt, "/b") == "second"
    rt = table(vhost("v", ["*"], [route("only", "prefix", "/a")]))
    assert matched(rt, "/b") is None


def test_invalid_regex_is_reported_with_its_path():
    with pytest.raises(ConfigError) as error:
        table(vhost("v", ["*"], [route("ok"), route("bad", "safe_regex", "/(x")]))
    [(path, reason)] = error.value.problems
    assert path == "virtual_hosts[0].routes[1].match.safe_regex.regex"
    assert "invalid regex '/(x'" in reason


def test_route_kinds():
    rt = table(vhost("v", ["*"], [
        Route(RouteMatch("prefix", "/d"), name="d", direct_response=DirectResponseAction(200)),
        Route(RouteMatch("prefix", "/r"), name="r", redirect=RedirectAction()),
        route("c")]))
    assert rt.match(b"x", b"/d", []).kind is DIRECT_RESPONSE
    assert rt.match(b"x", b"/r", []).kind is REDIRECT
    found = rt.match(b"x", b"/c", [])
    assert found.kind is ROUTE and found.vhost_name == "v" and found.name == "c"


# --- header matchers ---------------------------------------------------------------------------

def sm(kind, value, ignore_case=False):
    return StringMatcher(kind, value, ignore_case)


HEADER_CASES = {
    "exact": HeaderMatcher("x", "exact", "v"),
    "exact_empty": HeaderMatcher("x", "exact", ""),
    "sm_exact_empty": HeaderMatcher("x", "string_match", string_match=sm("exact", "")),
    "invert": HeaderMatcher("x", "exact", "v", invert_match=True),
    "invert_missing": HeaderMatcher("x", "string_match", string_match=sm("exact", "v"),
                                    invert_match=True, treat_missing_header_as_empty=True),
    "present": HeaderMatcher("x", "present", True),
    "absent": HeaderMatcher("x", "present", False),
    "present_inverted": HeaderMatcher("x", "present", True, invert_match=True),
    "absent_inverted": HeaderMatcher("x", "present", False, invert_match=True),
    "present_missing_empty": HeaderMatcher("x", "present", True,
                                           treat_missing_header_as_empty=True),
    "absent_missing_empty": HeaderMatcher("x", "present", False,
                                          treat_missing_header_as_empty=True),
    "joined": HeaderMatcher("x", "string_match", string_match=sm("exact", "a,b")),
    "nocase_prefix": HeaderMatcher("x", "string_match", string_match=sm("prefix", "AB", True)),
    "regex": HeaderMatcher("x", "safe_regex", "[a-c]+"),
    "sm_regex": HeaderMatcher("x", "string_match", string_match=sm("safe_regex", "[a-c]+")),
    "missing_as_empty": HeaderMatcher("x", "string_match", string_match=sm("exact", ""),
                                      treat_missing_header_as_empty=True),
    "suffix": HeaderMatcher("x", "suffix", "z"),
    "contains": HeaderMatcher("x", "contains", "mid"),
    "sm_contains_nocase": HeaderMatcher("x", "string_match",
                                        string_match=sm("contains", "MID", True)),
    "sm_suffix": HeaderMatcher("x", "string_match", string_match=sm("suffix", "w")),
    "host": HeaderMatcher("host", "string_match", string_match=sm("exact", "hh")),
    "authority": HeaderMatcher(":authority", "string_match", string_match=sm("exact", "hh")),
    "method": HeaderMatcher(":method", "string_match", string_match=sm("exact", "POST")),
    "path": HeaderMatcher(":path", "string_match", string_match=sm("exact", "/path?q")),
    "scheme": HeaderMatcher(":scheme", "string_match", string_match=sm("exact", "http")),
}
HEADERS = table(vhost("v", ["*"], [route(name, "path", "/" + name, headers=[matcher])
                                   for name, matcher in HEADER_CASES.items()]))


@pytest.mark.parametrize("name, headers, expected", [
    ("exact", [(b"x", b"v")], True), ("exact", [], False), ("exact", [(b"x", b"vv")], False),
    ("exact_empty", [(b"x", b"anything")], True), ("exact_empty", [], False),
    ("exact_empty", [(b"x", b"")], True),
    ("sm_exact_empty", [(b"x", b"a")], False), ("sm_exact_empty", [(b"x", b"")], True),
    ("invert", [(b"x", b"v")], False), ("invert", [(b"x", b"w")], True), ("invert", [], False),
    ("invert_missing", [], True), ("invert_missing", [(b"x", b"v")], False),
    ("present", [], False), ("present", [(b"x", b"")], True),
    ("absent", [], True), ("absent", [(b"x", b"1")], False),
    ("present_inverted", [], True), ("present_inverted", [(b"x", b"1")], False),
    ("absent_inverted", [], False), ("absent_inverted", [(b"x", b"1")], True),
    ("present_missing_empty", [], True),
    ("absent_missing_empty", [], False), ("absent_missing_empty", [(b"x", b"1")], False),
    ("nocase_prefix", [(b"x", b"abc")], True),
    ("regex", [(b"x", b"abc")], True), ("regex", [(b"x", b"abd")], False),
    ("sm_regex", [(b"x", b"cab")], True),
    ("missing_as_empty", [], True), ("missing_as_empty", [(b"x", b"1")], False),
    ("suffix", [(b"x", b"az")], True), ("contains", [(b"x", b"amidb")], True),
    ("sm_contains_nocase", [(b"x", b"aMiDb")], True),
])
def test_header_matchers(name, headers, expected):
    assert (matched(HEADERS, "/" + name, headers=headers) == name) is expected


@pytest.mark.parametrize("name, values, expected", [
    # Envoy 1.40 tests each value of a repeated header: any match is enough
    ("exact", [b"v", b"w"], True), ("exact", [b"w", b"v"], True), ("exact", [b"a", b"b"], False),
    ("joined", [b"a", b"b"], False), ("joined", [b"a,b"], True),
    ("sm_suffix", [b"w", b"v"], True),
    ("invert", [b"v", b"w"], False), ("invert", [b"a", b"b"], True),
])
def test_repeated_headers_match_value_by_value(name, values, expected):
    headers = [(b"x", value) for value in values]
    headers.insert(1, (b"other", b"v"))
    assert (matched(HEADERS, "/" + name, headers=headers) == name) is expected


def test_pseudo_header_matchers():
    assert matched(HEADERS, "/host", host=b"hh") == "host"
    assert matched(HEADERS, "/host", host=b"hh:1") is None
    assert matched(HEADERS, "/authority", host=b"hh") == "authority"
    assert matched(HEADERS, "/method", method=b"POST") == "method"
    assert matched(HEADERS, "/method", method=b"GET") is None
    assert matched(HEADERS, "/method") is None
    assert matched(HEADERS, "/path?q") == "path"
    assert matched(HEADERS, "/scheme", scheme=b"http") == "scheme"


def test_all_header_matchers_must_hold():
    rt = table(vhost("v", ["*"], [route("both", headers=[HeaderMatcher("a", "exact", "1"),
                                                         HeaderMatcher("b", "present", True)])]))
    assert matched(rt, headers=[(b"a", b"1"), (b"b", b"")]) == "both"
    assert matched(rt, headers=[(b"a", b"1")]) is None


def test_invalid_header_regex_path():
    with pytest.raises(ConfigError) as error:
        table(vhost("v", ["*"], [route("r", headers=[
            HeaderMatcher("x", "exact", "1"),
            HeaderMatcher("x", "string_match", string_match=sm("safe_regex", "(?=a)"))])]))
    [(path, reason)] = error.value.problems
    assert path == "virtual_hosts[0].routes[0].match.headers[1].string_match.safe_regex.regex"
    assert "lookaround" in reason


# --- query parameters --------------------------------------------------------------------------

QUERY = table(vhost("v", ["*"], [
    route("raw", "prefix", "/qp", query=[QueryParameterMatcher("a", sm("exact", "x%20y"))]),
    route("decoded", "prefix", "/qp", query=[QueryParameterMatcher("a", sm("exact", "x y"))]),
    route("present", "prefix", "/qp", query=[QueryParameterMatcher("p", present_match=True)]),
    route("bare_name", "prefix", "/qp", query=[QueryParameterMatcher("nn")]),
    route("empty_value", "prefix", "/qp", query=[QueryParameterMatcher("e", sm("exact", ""))]),
    route("regex", "prefix", "/qp", query=[QueryParameterMatcher("r", sm("safe_regex", "[0-9]+"))]),
    route("fallback"),
]))


@pytest.mark.parametrize("path, expected", [
    ("/qp?a=x%20y", "raw"), ("/qp?a=x+y", "fallback"),
    ("/qp?a=q&a=x%20y", "fallback"),            # only the first value counts
    ("/qp?z=1&a=x%20y", "raw"), ("/qp?A=x%20y", "fallback"),
    ("/qp?p", "present"), ("/qp?p=", "present"), ("/qp?p=1", "present"),
    ("/qp?nn=1", "bare_name"), ("/qp?nn", "bare_name"),
    ("/qp?e=", "empty_value"), ("/qp?e", "empty_value"), ("/qp?e=1", "fallback"),
    ("/qp?r=123", "regex"), ("/qp?r=12a", "fallback"),
    ("/qp", "fallback"),
])
def test_query_parameters(path, expected):
    assert matched(QUERY, path) == expected


def test_query_and_header_matchers_combine():
    rt = table(vhost("v", ["*"], [route(
        "both", headers=[HeaderMatcher("h", "present", True)],
        query=[QueryParameterMatcher("q", present_match=True)])]))
    assert matched(rt, "/?q", headers=[(b"h", b"1")]) == "both"
    assert matched(rt, "/?q") is None
    assert matched(rt, "/", headers=[(b"h", b"1")]) is None


def test_errors_from_several_routes_are_all_reported():
    bad_rewrite = Route(RouteMatch("prefix", "/"), route=RouteAction(
        cluster="a", regex_rewrite=RegexRewrite("(", "x")))
    with pytest.raises(ConfigError) as error:
        table(vhost("v", ["*"], [route("a", "safe_regex", "["), bad_rewrite]))
    assert [path for path, _ in error.value.problems] == [
        "virtual_hosts[0].routes[0].match.safe_regex.regex",
        "virtual_hosts[0].routes[1].route.regex_rewrite.pattern.regex"]
