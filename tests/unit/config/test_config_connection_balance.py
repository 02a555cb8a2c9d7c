"""A listener's connection_balance_config: exact_balance is read into ``connection_balance``,
extend_balance and malformed configs are refused at their field paths (Envoy 1.40 requires
exactly one balancer and takes an empty exact_balance)."""
import pytest

from config_helpers import LISTENER, Rejected, ids, parse_with

BALANCE = f"{LISTENER}.connection_balance_config"


def test_no_balance_config_means_none():
    bootstrap = parse_with({})
    assert [listener.connection_balance for listener in bootstrap.listeners] == ["", ""]


def test_exact_balance_is_read_per_listener():
    bootstrap = parse_with({BALANCE: {"exact_balance": {}}})
    assert [listener.connection_balance for listener in bootstrap.listeners] == ["exact", ""]


def test_exact_balance_on_a_tcp_listener():
    bootstrap = parse_with({"static_resources.listeners[1].connection_balance_config": {"exactBalance": {}}})
    assert bootstrap.listeners[1].connection_balance == "exact"


REJECTED = [
    Rejected({BALANCE: {}}, BALANCE, "exactly one of exact_balance, extend_balance is required"),
    Rejected({BALANCE: {"extend_balance": {"name": "x", "typed_config": {}}}}, f"{BALANCE}.extend_balance",
             "hotproxy has no balancer extensions; exact_balance is built in"),
    Rejected({BALANCE: {"exact_balance": {}, "extend_balance": {}}}, BALANCE,
             "only one of exact_balance, extend_balance may be set"),
    Rejected({BALANCE: {"exact_balance": {"foo": 1}}}, f"{BALANCE}.exact_balance.foo", "unknown field 'foo'"),
    Rejected({BALANCE: {"exact_balance": True}}, f"{BALANCE}.exact_balance", "expected a mapping"),
    Rejected({BALANCE: "exact"}, BALANCE, "expected a mapping"),
    Rejected({BALANCE: {"round_robin": {}}}, f"{BALANCE}.round_robin", "unknown field 'round_robin'"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
