"""Where a request head goes once every filter continued it (filtered_stream's router sink): a
route to a cluster without extras straight to the router with the headers as the filters left
them (the request was decorated before the filters); anything else through route_request,
which answers for no route, a direct response or a redirect, and times a gRPC request."""
from types import SimpleNamespace

import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_route import route_configuration
from hotproxy.http import filtered_stream
from hotproxy.http.http1.heads import RequestHead
from hotproxy.http.router.route_table import RouteTable
from hotproxy.http.stream import ActiveStream

ROUTES = {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
    {"match": {"prefix": "/plain"}, "route": {"cluster": "a"}},
    {"match": {"prefix": "/hashed"}, "route": {"cluster": "a", "hash_policy": [{"header": {"header_name": "x-user"}}]}},
    {"match": {"prefix": "/mirrored"}, "route": {"cluster": "a", "request_mirror_policies": [{"cluster": "b"}]}},
    {"match": {"prefix": "/grpc"}, "route": {"cluster": "a", "max_grpc_timeout": "5s"}},
    {"match": {"prefix": "/direct"}, "direct_response": {"status": 200}},
    {"match": {"prefix": "/redirect"}, "redirect": {"path_redirect": "/x"}},
]}]}


def compiled(path):
    """The route for ``path`` as the route table compiles it."""
    context = Context()
    table = RouteTable(route_configuration(Node(ROUTES, "route_config", context)))
    assert context.problems == []
    return table.match(b"h", path, [], b"GET")


@pytest.fixture
def calls(monkeypatch):
    calls = []
    monkeypatch.setattr(filtered_stream, "route_request",
                        lambda conn, stream, target, decorate: calls.append(
                            ("route_request", target, decorate)))
    return calls


def sink(calls, route, route_cleared=False, matched=None):
    head = RequestHead()
    head.method, head.target, head.host, head.keep_alive = b"GET", b"/a", b"h", True
    head.headers = [(b"host", b"h"), (b"x-edited", b"by a filter")]
    stream = ActiveStream(head, 0.0)
    router = SimpleNamespace(start=lambda *args: calls.append(("start", *args)))
    table = SimpleNamespace(match=lambda host, target, headers, method: matched)
    stream.connection = conn = SimpleNamespace(hcm=SimpleNamespace(router=router,
                                                                   route_table=table))
    stream.route, stream.route_cleared, stream.target = route, route_cleared, b"/normalized"
    stream.decoded = False
    filtered_stream.DECODED[0](stream, True)
    return stream, conn


def test_a_plain_route_goes_straight_to_the_router_with_the_filtered_headers(calls):
    stream, conn = sink(calls, compiled(b"/plain"))
    assert calls == [("start", stream, conn, b"/normalized", stream.head.headers)]
    assert stream.decoded


@pytest.mark.parametrize("path", [None, b"/hashed", b"/mirrored", b"/grpc", b"/direct", b"/redirect"])
def test_anything_else_goes_through_route_request_undecorated(calls, path):
    stream, _ = sink(calls, compiled(path) if path is not None else None)
    assert calls == [("route_request", b"/normalized", None)]
    assert stream.decoded


def test_a_cleared_route_is_matched_again_first(calls):
    stream, conn = sink(calls, None, route_cleared=True,
                        matched=compiled(b"/plain"))
    assert calls == [("start", stream, conn, b"/normalized", stream.head.headers)]
