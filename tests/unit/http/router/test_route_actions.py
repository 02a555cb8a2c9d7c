"""What matched routes do: cluster choice, path rewrites, redirects, direct responses.

Expected values come from Envoy 1.40 answering the same configuration.
"""
import random
from collections import Counter

import pytest

from hotproxy.config.core import HeaderValueOption
from hotproxy.config.route import (DirectResponseAction, RedirectAction, RegexRewrite, Route,
                                   RouteAction, RouteConfiguration, RouteMatch, VirtualHost,
                                   WeightedCluster)
from hotproxy.errors import ConfigError
from hotproxy.http.router.route_table import RouteTable


def compiled(route, rng=random, path=None):
    """``route`` as the table compiles it, found by matching ``path`` (default: its own)."""
    table = RouteTable(RouteConfiguration(virtual_hosts=(VirtualHost("v", ("*",), (route,)),)),
                       rng=rng)
    return table.match(b"x", path or route.match.path_value.encode(), [])


def forward(match=RouteMatch("prefix", "/"), path=None, **action):
    action.setdefault("cluster", "a")
    return compiled(Route(match, route=RouteAction(**action)), path=path)


# --- clusters ----------------------------------------------------------------------------------

def test_static_cluster():
    route = forward(cluster="svc", timeout=3.0, idle_timeout=0.0)
    assert route.cluster_name == "svc"
    assert route.pick_cluster([]) == ("svc", None)
    assert (route.timeout, route.idle_timeout) == (3.0, 0.0)
    assert route.host_rewrite_literal is None and route.auto_host_rewrite is False


def test_host_rewrites():
    assert forward(host_rewrite_literal="up.internal").host_rewrite_literal == b"up.internal"
    assert forward(auto_host_rewrite=True).auto_host_rewrite is True


def test_weighted_clusters_follow_weights():
    clusters = (WeightedCluster("a", 70), WeightedCluster("b", 20), WeightedCluster("c", 10),
                WeightedCluster("never", 0))
    route = compiled(Route(RouteMatch("prefix", "/"),
                           route=RouteAction(weighted_clusters=clusters)), rng=random.Random(7))
    assert route.cluster_name is None
    picks = Counter()
    for _ in range(20000):
        name, entry = route.pick_cluster([])
        assert entry.name == name
        picks[name] += 1
    assert picks["never"] == 0
    assert abs(picks["a"] / 20000 - 0.7) < 0.02
    assert abs(picks["b"] / 20000 - 0.2) < 0.02
    assert abs(picks["c"] / 20000 - 0.1) < 0.02


def test_weighted_clusters_need_weight():
    with pytest.raises(ConfigError) as error:
        forward(cluster=None, weighted_clusters=(WeightedCluster("a", 0),))
    assert error.value.problems == [(
        "virtual_hosts[0].routes[0].route.weighted_clusters",
        "Sum of weights in the weighted_cluster must be greater than 0.")]


def test_cluster_header_uses_the_first_value():
    route = forward(cluster=None, cluster_header="x-cluster")
    assert route.cluster_name is None
    assert route.pick_cluster([(b"x-cluster", b"b")]) == ("b", None)
    assert route.pick_cluster([(b"x-cluster", b"c"), (b"x-cluster", b"b")]) == ("c", None)
    assert route.pick_cluster([]) == (None, None)
    assert route.pick_cluster([(b"x-cluster", b"")]) == (None, None)


# --- path rewrites -----------------------------------------------------------------------------

@pytest.mark.parametrize("match, action, path, expected", [
    (RouteMatch("path_separated_prefix", "/pfx"), {"prefix_rewrite": "/new"},
     b"/pfx/a?q=1", b"/new/a?q=1"),
    (RouteMatch("path_separated_prefix", "/pfx"), {"prefix_rewrite": "/new"}, b"/pfx", b"/new"),
    (RouteMatch("prefix", "/CI", case_sensitive=False), {"prefix_rewrite": "/ci"},
     b"/Ci/x?q", b"/ci/x?q"),
    (RouteMatch("path", "/exact"), {"prefix_rewrite": "/E"}, b"/exact?q=1", b"/E?q=1"),
    (RouteMatch("safe_regex", "/rr/[a-z]+"), {"prefix_rewrite": "/R"}, b"/rr/abc?q", b"/R?q"),
    (RouteMatch("prefix", "/"), {"regex_rewrite": RegexRewrite("([a-z])", "<\\1>")},
     b"/rx/aB/c?q=z", b"/<r><x>/<a>B/<c>?q=z"),
    (RouteMatch("prefix", "/"), {"regex_rewrite": RegexRewrite("^/rx/([a-z]+)", "/X/\\1")},
     b"/rx/abc/def?q=1", b"/X/abc/def?q=1"),
    (RouteMatch("prefix", "/"), {"regex_rewrite": RegexRewrite("q", "Q")},
     b"/rxq/q?q=q", b"/rxQ/Q?q=q"),
    (RouteMatch("prefix", "/"), {"regex_rewrite": RegexRewrite("^/rxbs", "\\\\x\\0")},
     b"/rxbs/a", b"\\x/rxbs/a"),
    # a group the pattern lacks makes RE2 refuse the rewrite: the path is left alone
    (RouteMatch("prefix", "/"), {"regex_rewrite": RegexRewrite("/(r)", "\\2")},
     b"/rxbad/x", b"/rxbad/x"),
    # RE2 skips an empty match where the previous match ended
    (RouteMatch("prefix", "/"), {"regex_rewrite": RegexRewrite("x*", "-")}, b"/axb", b"-/-a-b-"),
    # an invalid escape ends the rewrite string
    (RouteMatch("prefix", "/"), {"regex_rewrite": RegexRewrite("a", "b\\qc")}, b"/a", b"/b"),
])
def test_path_rewrites(match, action, path, expected):
    route = forward(match, path, **action)
    assert route.rewrites_path is True
    assert route.rewrite_path(path) == expected


def test_no_rewrite_is_identity():
    for route in (forward(), forward(prefix_rewrite="")):
        assert route.rewrites_path is False
        assert route.rewrite_path(b"/a?b") == b"/a?b"


def test_only_one_rewrite():
    with pytest.raises(ConfigError) as error:
        forward(prefix_rewrite="/a", regex_rewrite=RegexRewrite("a", "b"))
    assert error.value.problems[0][0] == "virtual_hosts[0].routes[0].route"


# --- redirects ---------------------------------------------------------------------------------

def redirect(match=None, **fields):
    route = compiled(Route(match or RouteMatch("prefix", "/"), redirect=RedirectAction(**fields)))
    return route


@pytest.mark.parametrize("fields, scheme, host, path, expected", [
    ({"https_redirect": True}, b"http", b"foo.com", b"/a?q=1", b"https://foo.com/a?q=1"),
    ({"https_redirect": True}, b"http", b"foo.com:80", b"/a", b"https://foo.com/a"),
    ({"https_redirect": True}, b"http", b"foo.com:8080", b"/a", b"https://foo.com:8080/a"),
    ({"https_redirect": True}, b"http", b"foo.com:443", b"/a", b"https://foo.com:443/a"),
    ({"https_redirect": True}, b"http", b"[::1]:80", b"/a", b"https://[::1]/a"),
    ({"https_redirect": True}, b"http", b"[::1]", b"/a", b"https://[::1]/a"),
    ({"https_redirect": True}, b"http", b"FOO.com:80", b"/a", b"https://FOO.com/a"),
    ({"https_redirect": True}, b"https", b"foo.com:80", b"/a", b"https://foo.com:80/a"),
    ({"scheme_redirect": "http"}, b"https", b"foo.com:443", b"/a", b"http://foo.com/a"),
    ({"scheme_redirect": "http"}, b"http", b"foo.com:443", b"/a", b"http://foo.com:443/a"),
    ({"scheme_redirect": "HTTPS"}, b"http", b"foo.com:80", b"/a", b"HTTPS://foo.com/a"),
    ({"host_redirect": "bar.com"}, b"https", b"foo.com:80", b"/a", b"https://bar.com/a"),
    ({"port_redirect": 8443}, b"http", b"foo.com:80", b"/a?q", b"http://foo.com:8443/a?q"),
    ({"port_redirect": 8443, "https_redirect": True}, b"http", b"foo.com:80", b"/a",
     b"https://foo.com:8443/a"),
    ({"host_redirect": "bar.com", "port_redirect": 9000}, b"http", b"foo.com:80", b"/a",
     b"http://bar.com:9000/a"),
    ({"host_redirect": "bar.com:7000"}, b"http", b"foo.com:80", b"/a", b"http://bar.com:7000/a"),
    ({"host_redirect": "bar.com:7000", "port_redirect": 9000}, b"http", b"foo.com", b"/a",
     b"http://bar.com:7000:9000/a"),
    ({"path_redirect": "/new"}, b"http", b"foo.com:80", b"/a?q=1", b"http://foo.com:80/new?q=1"),
    ({"path_redirect": "/new?x=1"}, b"http", b"f", b"/a?q=1", b"http://f/new?x=1"),
    ({"path_redirect": "/new", "strip_query": True}, b"http", b"f", b"/a?q=1", b"http://f/new"),
    ({"path_redirect": "/new?x=1", "strip_query": True}, b"http", b"f", b"/a?q=1",
     b"http://f/new?x=1"),
    ({"path_redirect": "new"}, b"http", b"f", b"/a?q", b"http://f/new?q"),
    ({"strip_query": True}, b"http", b"f", b"/a?q=1", b"http://f/a"),
    ({"regex_rewrite": RegexRewrite("^/rx/([a-z]+)", "/X/\\1")}, b"http", b"f",
     b"/rx/abc/def?q=1", b"http://f/X/abc/def?q=1"),
])
def test_redirect_locations(fields, scheme, host, path, expected):
    route = redirect(**fields)
    assert route.redirect_status == 301
    assert route.redirect_location(scheme, host, path) == expected


@pytest.mark.parametrize("match, fields, path, expected", [
    (RouteMatch("path_separated_prefix", "/pfx"), {"prefix_rewrite": "/NEW"}, b"/pfx/a?q=1",
     b"http://f/NEW/a?q=1"),
    (RouteMatch("path_separated_prefix", "/pfx"), {"prefix_rewrite": "/NEW", "strip_query": True},
     b"/pfx/a?q=1", b"http://f/NEW/a"),
    (RouteMatch("path_separated_prefix", "/pfx"), {"prefix_rewrite": ""}, b"/pfx/a?q",
     b"http://f/pfx/a?q"),
    (RouteMatch("path_separated_prefix", "/pfx"), {"prefix_rewrite": "x"}, b"/pfx/y",
     b"http://f/x/y"),
    (RouteMatch("path_separated_prefix", "/pfx"), {"prefix_rewrite": "/"}, b"/pfx/y",
     b"http://f//y"),
    (RouteMatch("path", "/exactpfx"), {"prefix_rewrite": "/E"}, b"/exactpfx?q=1",
     b"http://f/E?q=1"),
    (RouteMatch("prefix", "/CIPFX", case_sensitive=False), {"prefix_rewrite": "/ci"},
     b"/CiPfX/z?q", b"http://f/ci/z?q"),
])
def test_redirect_prefix_rewrites(match, fields, path, expected):
    assert redirect(match, **fields).redirect_location(b"http", b"f", path) == expected


def test_redirect_status():
    assert redirect(response_code=307).redirect_status == 307


def test_redirect_path_excludes_rewrites():
    with pytest.raises(ConfigError) as error:
        redirect(path_redirect="/a", prefix_rewrite="/b")
    assert error.value.problems[0][0] == "virtual_hosts[0].routes[0].redirect"


# --- direct responses --------------------------------------------------------------------------

def direct(status, body=None):
    return compiled(Route(RouteMatch("prefix", "/"),
                          direct_response=DirectResponseAction(status, body)))


def test_direct_response():
    route = direct(200, b"hi")
    assert (route.direct_status, route.direct_body) == (200, b"hi")
    assert route.direct_location(b"http", b"f", b"/") is None
    assert direct(503).direct_body is None


@pytest.mark.parametrize("status", [201, 301, 308])
def test_direct_responses_with_location_repeat_the_request_url(status):
    route = direct(status)
    assert route.direct_location(b"http", b"foo.com:80", b"/a?q") == b"http://foo.com:80/a?q"


def test_direct_response_runs_response_mutations():
    route = compiled(Route(RouteMatch("prefix", "/"), direct_response=DirectResponseAction(200),
                           response_headers_to_add=(HeaderValueOption("x-a", "1"),)))
    assert route.has_response_mutations and not route.has_request_mutations
    assert route.mutate_response([], None, None) == [(b"x-a", b"1")]
