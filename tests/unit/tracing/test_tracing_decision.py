"""The trace decision and its mark in the x-request-id (Envoy's UUID request-id extension)."""
import pytest

from hotproxy import runtime
from hotproxy.http.request_id import (CLIENT, FORCED, NOT_TRACED, SAMPLED, new_request_id,
                                      sampling_value, trace_mark, with_trace_mark)
from hotproxy.tracing.decision import decide

ALL, NONE, HALF = (10000, 10000), (0, 10000), (5000, 10000)
LOW = b"00000000-2222-4333-8444-ffffffffffff"      # draws 0: inside any share
HIGH = b"ffffffff-2222-4333-8444-000000000000"     # draws 4294967295 % 10000 = 7295


@pytest.fixture(autouse=True)
def empty_runtime():
    runtime.install({})
    yield
    runtime.install({})


def test_marks_live_in_the_uuid_version_digit():
    fresh = new_request_id()
    assert trace_mark(fresh) == NOT_TRACED
    assert with_trace_mark(fresh, SAMPLED)[14:15] == b"9"
    assert with_trace_mark(fresh, FORCED)[14:15] == b"a"
    assert with_trace_mark(fresh, CLIENT)[14:15] == b"b"
    assert trace_mark(with_trace_mark(fresh, CLIENT)) == CLIENT
    assert with_trace_mark(with_trace_mark(fresh, SAMPLED), NOT_TRACED)[14:15] == b"4"
    assert with_trace_mark(b"not-a-uuid", SAMPLED) == b"not-a-uuid"
    assert sampling_value(LOW) == 0 and sampling_value(b"zz") is None


def test_random_sampling_draws_on_the_request_ids_first_digits():
    assert decide(LOW, False, False, False, (ALL, HALF, ALL)) == (SAMPLED, LOW.replace(b"-4333", b"-9333"))
    assert decide(HIGH, False, False, False, (ALL, HALF, ALL)) == (NOT_TRACED, HIGH)
    assert decide(LOW, False, False, False, (ALL, NONE, ALL))[0] == NOT_TRACED


def test_a_client_trace_id_forces_a_trace_the_random_share_would_not():
    assert decide(HIGH, True, False, False, (ALL, NONE, ALL))[0] == CLIENT
    assert decide(HIGH, True, False, False, (NONE, NONE, ALL))[0] == NOT_TRACED


def test_force_trace_counts_only_from_an_internal_peer():
    assert decide(HIGH, False, True, True, (ALL, NONE, ALL))[0] == FORCED
    assert decide(HIGH, False, True, False, (ALL, NONE, ALL))[0] == NOT_TRACED


def test_an_earlier_hops_mark_is_kept_whatever_the_shares_here():
    marked = with_trace_mark(HIGH, SAMPLED)
    assert decide(marked, False, False, False, (ALL, NONE, ALL)) == (SAMPLED, marked)


def test_overall_sampling_clears_any_mark():
    marked = with_trace_mark(LOW, CLIENT)
    mark, request_id = decide(marked, True, False, False, (ALL, ALL, NONE))
    assert (mark, request_id[14:15]) == (NOT_TRACED, b"4")


def test_runtime_keys_override_the_shares():
    runtime.install({"tracing.random_sampling": 0})
    assert decide(LOW, False, False, False, (ALL, ALL, ALL))[0] == NOT_TRACED
    runtime.install({"tracing.global_enabled": 0})
    assert decide(LOW, False, False, False, (ALL, ALL, ALL))[0] == NOT_TRACED


def test_without_a_request_id_nothing_is_traced():
    assert decide(None, True, True, True, (ALL, ALL, ALL)) == (NOT_TRACED, None)
