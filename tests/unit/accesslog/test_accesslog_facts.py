"""Which StreamInfo facts a compiled format reads (Formatter.facts), and log_stream filling the
on-demand ones only for the access logs that may read them."""
import types

import pytest

from hotproxy.accesslog.commands import _BARE, _OPTIONAL, _SUPPORTED
from hotproxy.accesslog.format import compile_format
from hotproxy.accesslog.loggers import ON_DEMAND_FACTS, AccessLoggers
from hotproxy.config.accesslog import LogFormat
from hotproxy.http.stream_log import log_stream

from accesslog_helpers import http_info

ON_DEMAND_VALUES = {
    "scheme": b"https", "downstream_tls": None, "downstream_remote_address": "10.1.1.1:1",
    "downstream_direct_remote_address": "10.2.2.2:2", "downstream_local_address": "10.3.3.3:3",
    "downstream_direct_local_address": "10.4.4.4:4", "first_upstream_rx_ms": 7.7,
    "upstream_cluster": "on-demand", "upstream_request_attempt_count": 5, "route_name": "r9"}

OPERATORS = sorted(f"%{name}%" for name, (syntax, _) in _SUPPORTED.items()
                   if syntax in (_BARE, _OPTIONAL)) + [
    "%REQ(:SCHEME)%", "%REQ(USER-AGENT)%", "%RESP(:STATUS)%", "%REQ(INFO)%"]


def loggers(*log_formats):
    lines = []
    sink = types.SimpleNamespace(logger=lambda destination, format_line:
                                 lambda info: lines.append(format_line(info)))
    configs = [types.SimpleNamespace(kind="file", path="/log", log_format=log_format)
               for log_format in log_formats]
    return AccessLoggers(configs, sink, tcp=False), lines


def test_the_default_format_reads_no_on_demand_fact():
    facts = compile_format(None, "x", False).facts
    assert facts is not None and not facts & ON_DEMAND_FACTS
    assert {"start_time", "method", "path", "response_code", "upstream_host"} <= facts
    assert loggers(None)[0].every_fact is False


def test_ON_DEMAND_VALUES_cover_every_on_demand_fact():
    assert set(ON_DEMAND_VALUES) == ON_DEMAND_FACTS


@pytest.mark.parametrize("operator", OPERATORS)
def test_a_format_said_to_read_no_on_demand_fact_prints_the_same_without_them(operator):
    for log_format in (LogFormat(text=operator), LogFormat(json={"k": operator}),
                       LogFormat(json={"k": {"j": operator}}, omit_empty_values=True)):
        try:
            formatter = compile_format(log_format, "x", False)
        except Exception:
            pytest.skip("not an operator this build formats")
        if loggers(log_format)[0].every_fact:
            continue
        filled = http_info(**ON_DEMAND_VALUES)
        unfilled = http_info()
        for fact in ON_DEMAND_FACTS:
            setattr(unfilled, fact, None)
        assert formatter.format(filled) == formatter.format(unfilled)


@pytest.mark.parametrize("operator, every_fact", [
    ("%ROUTE_NAME%", True), ("%UPSTREAM_CLUSTER%", True), ("%REQ(:SCHEME)%", True),
    ("%DOWNSTREAM_DIRECT_LOCAL_PORT%", True), ("%RESPONSE_DURATION%", True),
    ("%RESPONSE_TX_DURATION%", True),          # a function of info that does not say
    ("%DOWNSTREAM_PEER_SUBJECT%", True), ("%FILTER_STATE(x)%", True),
    ("%DURATION% %RESPONSE_CODE%", False), ("%UPSTREAM_HOST%", False)])
def test_every_fact_when_any_format_may_read_an_on_demand_one(operator, every_fact):
    assert loggers(LogFormat(text=operator))[0].every_fact is every_fact
    assert loggers(None, LogFormat(text=operator))[0].every_fact is every_fact
    assert loggers(LogFormat(json={"a": {"b": operator}}, omit_empty_values=True))[0].every_fact \
        is every_fact


class Stream(types.SimpleNamespace):
    __hash__ = object.__hash__          # a key of the router's attempt counts


def stream_and_conn(access_logs):
    stream = Stream(
        logged=False, start=100.0, info=http_info(**dict.fromkeys(ON_DEMAND_FACTS)),
        head=types.SimpleNamespace(method=b"GET", target=b"/t", headers=[(b"host", b"h")]),
        cluster=types.SimpleNamespace(name="c1"), route=types.SimpleNamespace(name="r1"))
    stream.info.request_complete_ms, stream.info.upstream_service_time_ms = 1.0, 2.0
    counts = {stream: 3}
    conn = types.SimpleNamespace(
        protocol="HTTP/1.1", scheme=b"https", tls=None, remote_address="10.0.0.1:5",
        local_address="10.0.0.2:80", direct_local_address=None,
        hcm=types.SimpleNamespace(router=types.SimpleNamespace(
            retries=types.SimpleNamespace(attempt_counts=counts)), access_logs=access_logs))
    return stream, conn, counts


def test_log_stream_leaves_out_the_on_demand_facts_for_the_default_format():
    logs, lines = loggers(None)
    stream, conn, counts = stream_and_conn(logs)
    log_stream(conn, stream)
    info = stream.info
    assert len(lines) == 1 and b'"GET /t HTTP/1.1"' in lines[0]
    assert counts == {}                 # popped all the same
    assert all(getattr(info, fact) is None for fact in ON_DEMAND_FACTS)


@pytest.mark.parametrize("access_logs", ["route name format", "tracing"])
def test_log_stream_fills_every_fact_when_a_format_may_read_one(access_logs):
    if access_logs == "tracing":        # TracedLogs does not say what its logs read
        logged = []
        access_logs = types.SimpleNamespace(log=logged.append)
    else:
        access_logs, logged = loggers(LogFormat(text="%ROUTE_NAME%"))
    stream, conn, counts = stream_and_conn(access_logs)
    log_stream(conn, stream)
    info = stream.info
    assert len(logged) == 1 and counts == {}
    assert (info.scheme, info.route_name, info.upstream_cluster) == (b"https", "r1", "c1")
    assert info.upstream_request_attempt_count == 3 and info.first_upstream_rx_ms == 3.0
    assert info.downstream_remote_address == info.downstream_direct_remote_address == "10.0.0.1:5"
    assert info.downstream_local_address == "10.0.0.2:80"
