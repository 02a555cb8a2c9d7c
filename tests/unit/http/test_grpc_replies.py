"""Which requests are gRPC, and what a local reply becomes for them (http/grpc.py)."""
import pytest

from hotproxy.http.grpc import is_grpc, percent_encoded, trailers_only


@pytest.mark.parametrize("content_type, expected", [
    (b"application/grpc", True), (b"application/grpc+proto", True),
    (b"application/grpc;charset=utf-8", True), (b"application/grpc-web", False),
    (b"application/grpcx", False), (b"text/plain", False)])
def test_grpc_requests_are_told_by_their_content_type(content_type, expected):
    assert is_grpc([(b"te", b"trailers"), (b"content-type", content_type)]) is expected


def test_a_request_without_content_type_is_not_grpc():
    assert not is_grpc([(b"host", b"x")])


@pytest.mark.parametrize("status, code", [(400, 13), (401, 16), (403, 7), (404, 12), (429, 14),
                                          (502, 14), (503, 14), (504, 14), (500, 2), (418, 2)])
def test_envoys_http_to_grpc_status_map(status, code):
    assert dict(trailers_only(status, b""))[b"grpc-status"] == b"%d" % code


def test_the_body_becomes_a_percent_encoded_grpc_message():
    assert trailers_only(503, b"")[-1][0] == b"grpc-status"
    assert percent_encoded(b"no healthy upstream") == b"no healthy upstream"
    assert percent_encoded(b"100% \xc3\xa9\n") == b"100%25 %C3%A9%0A"


def test_a_grpc_route_matcher_takes_only_grpc_requests():
    from hotproxy.config.route import RouteMatch
    from hotproxy.http.router.matchers import compile_request_checks
    check = compile_request_checks(RouteMatch("prefix", "/", grpc=True), "routes[0].match")
    assert check([(b"content-type", b"application/grpc")], b"h", b"/", b"POST", b"http")
    assert not check([(b"content-type", b"application/json")], b"h", b"/", b"POST", b"http")
    assert compile_request_checks(RouteMatch("prefix", "/"), "routes[0].match") is None
