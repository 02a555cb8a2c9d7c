"""Where a request head goes once every filter continued it (filtered_stream's router sink): a
route to a cluster without extras straight to the router with the headers as the filters left
them (the request was decorated before the filters); anything else through route_request,
which answers for no route, a direct response or a redirect, and times a gRPC request."""
from types import SimpleNamespace

import pytest

from hotproxy.http import filtered_stream
from hotproxy.http.http1.heads import RequestHead
from hotproxy.http.router.route_table import DIRECT_RESPONSE, REDIRECT, ROUTE
from hotproxy.http.stream import ActiveStream


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
    stream, conn = sink(calls, SimpleNamespace(kind=ROUTE, extras=()))
    assert calls == [("start", stream, conn, b"/normalized", stream.head.headers)]
    assert stream.decoded


@pytest.mark.parametrize("route", [
    None,
    SimpleNamespace(kind=ROUTE, extras=("grpc_timeout",)),
    SimpleNamespace(kind=DIRECT_RESPONSE, extras=()),
    SimpleNamespace(kind=REDIRECT, extras=()),
])
def test_anything_else_goes_through_route_request_undecorated(calls, route):
    stream, _ = sink(calls, route)
    assert calls == [("route_request", b"/normalized", None)]
    assert stream.decoded


def test_a_cleared_route_is_matched_again_first(calls):
    stream, conn = sink(calls, None, route_cleared=True,
                        matched=SimpleNamespace(kind=ROUTE, extras=()))
    assert calls == [("start", stream, conn, b"/normalized", stream.head.headers)]
