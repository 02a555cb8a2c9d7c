"""The filter chain's order and per-route switches through real processes, beside Envoy 1.40:
requests pass the filters in config order and responses in reverse; a filter disabled in
http_filters runs only where a route's FilterConfig enables it; a FilterConfig can switch a
filter off for one route; a filter that holds the request (buffer) releases it whole to the
filters after it."""
import pytest

from harness import RawClient, Upstream, http_listener, simple_routes, static_cluster, to_yaml

EXT = "type.googleapis.com/envoy.extensions.filters.http."
FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def tag(name, disabled=False):
    """A header_mutation filter that appends its name to x-order on the way in and the way out."""
    entry = {"name": name, "typed_config": {"@type": EXT + "header_mutation.v3.HeaderMutation", "mutations": {
        "request_mutations": [{"append": {"header": {"key": "x-order", "value": name}}}],
        "response_mutations": [{"append": {"header": {"key": "x-order", "value": name}}}]}}}
    if disabled:
        entry["disabled"] = True
    return entry


def config(upstream_port):
    routes = simple_routes(
        {"match": {"prefix": "/with-late"}, "route": {"cluster": "backend"},
         "typed_per_filter_config": {"late": {"@type": FILTER_CONFIG, "config": {
             "@type": EXT + "header_mutation.v3.HeaderMutationPerRoute",
             "mutations": {"request_mutations": [{"append": {"header": {"key": "x-late-route",
                                                                        "value": "yes"}}}]}}}}},
        {"match": {"prefix": "/without-first"}, "route": {"cluster": "backend"},
         "typed_per_filter_config": {"first": {"@type": FILTER_CONFIG, "disabled": True}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    filters = [tag("first"), {"name": "hold", "typed_config": {
        "@type": EXT + "buffer.v3.Buffer", "max_request_bytes": 1024}}, tag("second"),
        tag("late", disabled=True), ROUTER]
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [http_listener("http", "listen", routes, {"http_filters": filters})],
            "clusters": [static_cluster("backend", upstream_port)]}})


@pytest.fixture
def chain(peer_factory):
    upstream = Upstream()
    peer = peer_factory(config(upstream.port))
    yield peer, upstream


def exchange(peer, upstream, path, body=None):
    client = RawClient(peer.port("listen"))
    headers = [("Host", "test")]
    if body is not None:    # chunked, so that only the buffer filter can give it a length
        client.send(f"POST {path} HTTP/1.1\r\nHost: test\r\ntransfer-encoding: chunked\r\n\r\n".encode()
                    + b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in body) + b"0\r\n\r\n")
        response = client.read_response()
    else:
        response = client.request("GET", path, headers)
    seen = upstream.requests[-1]
    return ([v for k, v in response.headers if k == "x-order"],
            [v for k, v in seen["headers"] if k == "x-order"], seen)


def test_requests_pass_in_order_and_responses_in_reverse(chain):
    peer, upstream = chain
    client_view, upstream_view, _ = exchange(peer, upstream, "/")
    assert upstream_view == ["first", "second"]
    assert client_view == ["second", "first"]


def test_a_disabled_filter_runs_where_a_route_enables_it(chain):
    peer, upstream = chain
    client_view, upstream_view, seen = exchange(peer, upstream, "/with-late")
    assert upstream_view == ["first", "second", "late"]
    assert ("x-late-route", "yes") in [tuple(pair) for pair in seen["headers"]]
    assert client_view == ["late", "second", "first"]


def test_a_route_switches_a_filter_off(chain):
    peer, upstream = chain
    client_view, upstream_view, _ = exchange(peer, upstream, "/without-first")
    assert upstream_view == ["second"] and client_view == ["second"]


def test_a_held_body_reaches_the_later_filters_and_the_upstream_whole(chain):
    peer, upstream = chain
    _, upstream_view, seen = exchange(peer, upstream, "/", body=[b"one ", b"two ", b"three"])
    assert seen["body"] == "one two three"
    names = [k for k, _ in seen["headers"]]
    assert "content-length" in names and "transfer-encoding" not in names
    assert upstream_view == ["first", "second"]
