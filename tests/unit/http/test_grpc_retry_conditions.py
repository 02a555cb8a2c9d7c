"""retry_on's gRPC conditions (cancelled, deadline-exceeded, internal, resource-exhausted,
unavailable), as Envoy's RetryStateImpl reads them: the grpc-status of a trailers-only answer
(in the response headers), whatever the HTTP status; and x-envoy-retry-grpc-on."""
import pytest

from hotproxy.config.parse_retry import retry_on as parse_retry_on
from hotproxy.http.router.retry import NO_RETRY, RETRY

from test_retry_state import state_for


@pytest.mark.parametrize("condition, grpc_status", [
    ("cancelled", b"1"), ("deadline-exceeded", b"4"), ("resource-exhausted", b"8"),
    ("internal", b"13"), ("unavailable", b"14")])
def test_each_condition_retries_its_grpc_status(condition, grpc_status):
    state, stats = state_for(retry_on=(condition,))
    headers = [(b"content-type", b"application/grpc"), (b"grpc-status", grpc_status)]
    assert state.on_response(200, headers) is RETRY
    assert stats.upstream_rq_retry == 1


def test_other_grpc_statuses_and_bodies_with_no_status_are_not_retried():
    conditions = ("cancelled", "deadline-exceeded", "resource-exhausted", "internal", "unavailable")
    for headers in ([(b"grpc-status", b"0")], [(b"grpc-status", b"2")], [(b"grpc-status", b"5")],
                    [(b"content-type", b"application/grpc")]):
        state, _ = state_for(retry_on=conditions)
        assert state.on_response(200, headers) is NO_RETRY, headers


def test_a_condition_retries_only_its_own_status():
    state, _ = state_for(retry_on=("unavailable",))
    assert state.on_response(200, [(b"grpc-status", b"1")]) is NO_RETRY


def test_the_request_header_adds_grpc_conditions():
    state, _ = state_for(retry_on=(), control={b"x-envoy-retry-grpc-on": b"cancelled, unavailable"})
    assert state.on_response(200, [(b"grpc-status", b"14")]) is RETRY
    # x-envoy-retry-grpc-on carries gRPC conditions only
    state, _ = state_for(retry_on=(), control={b"x-envoy-retry-grpc-on": b"5xx"})
    assert state.on_response(503, []) is NO_RETRY


def test_istiods_default_retry_on_parses():
    from hotproxy.config.fields import Context, Node
    ctx = Context()
    node = Node("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
                "retry_on", ctx)
    assert parse_retry_on(node) == ("connect-failure", "refused-stream", "unavailable",
                                    "cancelled", "retriable-status-codes")
    assert ctx.problems == []
