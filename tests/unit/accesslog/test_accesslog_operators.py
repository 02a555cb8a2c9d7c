"""Each command operator against a StreamInfo, in a text format and as the only operator of a
JSON value (whose type it then keeps), with the values Envoy 1.40 printed in the lab for the
same facts (comments say where hotproxy's facts stand in for what Envoy measures itself)."""
from dataclasses import dataclass, field

import pytest

from accesslog_helpers import http_info, json_line, tcp_info, text

HTTP = http_info()
TCP = tcp_info()
UF = http_info(response_code=503, response_flags={"UF"}, first_upstream_rx_ms=None,
               upstream_local_address=None, response_code_details=(
                   "upstream_reset_before_response_started{remote_connection_failure|"
                   "delayed_connect_error: Connection refused}"),
               upstream_transport_failure_reason="delayed_connect_error: Connection refused")
XFF = http_info(downstream_remote_address="10.9.9.9:0")     # use_remote_address false + XFF
IPV6 = http_info(downstream_remote_address="[::1]:5000", downstream_local_address="[::1]:80")


@dataclass
class Op:
    operator: str
    info: object
    text: bytes             # %OP% in a text format
    json: bytes             # {"v":"%OP%"} → {"v":<this>}
    tcp: bool = False
    id: str = field(default="")


CASES = [
    Op("%REQ(:METHOD)%", HTTP, b"GET", b'"GET"'),
    Op("%REQ(:PATH)%", HTTP, b"/a?b=1", b'"/a?b=1"'),
    Op("%REQ(:AUTHORITY)%", HTTP, b"example.com", b'"example.com"'),
    Op("%REQ(HOST)%", HTTP, b"example.com", b'"example.com"', id="host is :authority"),
    Op("%REQ(:SCHEME)%", HTTP, b"http", b'"http"'),
    Op("%REQ(:SCHEME)%", http_info(scheme=b"https"), b"https", b'"https"', id=":scheme https"),
    Op("%REQ(:PROTOCOL)%", HTTP, b"-", b"null", id="other pseudo-header"),
    Op("%REQ(User-Agent)%", HTTP, b"curl/8", b'"curl/8"', id="names are case-insensitive"),
    Op("%REQ(USER-AGENT):3%", HTTP, b"cur", b'"cur"', id="truncated"),
    Op("%REQ(USER-AGENT):0%", HTTP, b"", b'""', id="truncated to nothing"),
    Op("%REQ(x-missing?user-agent):4%", HTTP, b"curl", b'"curl"', id="alternative"),
    Op("%REQ(x-missing?:path)%", HTTP, b"/a?b=1", b'"/a?b=1"', id="pseudo alternative"),
    Op("%REQ(user-agent?x-forwarded-for)%", HTTP, b"curl/8", b'"curl/8"', id="main wins"),
    Op("%REQ(x-missing)%", HTTP, b"-", b"null", id="missing header"),
    Op("%REQ(?x-request-id)%", HTTP, b"d0737e41-0c2c-4e86-ba95-ebc05c7d8b03",
       b'"d0737e41-0c2c-4e86-ba95-ebc05c7d8b03"', id="empty main name"),
    Op("%REQ(x-empty)%", http_info(request_headers=[(b"x-empty", b"")]), b"", b'""',
       id="empty value is not missing"),
    Op("%REQ(x-dup)%", http_info(request_headers=[(b"x-dup", b"1"), (b"x-dup", b"2")]),
       b"1", b'"1"', id="first of a repeated header"),
    Op("%REQUEST_HEADER(user-agent)%", HTTP, b"curl/8", b'"curl/8"'),
    Op("%RESP(X-TEST)%", HTTP, b"resp-value", b'"resp-value"'),
    Op("%RESP(x-test):5%", HTTP, b"resp-", b'"resp-"'),
    Op("%RESP(:STATUS)%", HTTP, b"200", b'"200"'),
    Op("%RESP(:STATUS)%", http_info(response_headers=None, response_code=0), b"-", b"null",
       id=":status without a response"),
    Op("%RESP(x-envoy-upstream-service-time)%", HTTP, b"3", b'"3"'),
    Op("%RESP(x-missing)%", HTTP, b"-", b"null"),
    Op("%RESP(date)%", http_info(response_headers=None), b"-", b"null", id="no response"),
    Op("%RESPONSE_HEADER(server)%", HTTP, b"envoy", b'"envoy"'),
    Op("%TRAILER(grpc-status)%", HTTP, b"-", b"null"),
    Op("%RESPONSE_TRAILER(grpc-status)%", HTTP, b"-", b"null"),
    Op("%PROTOCOL%", HTTP, b"HTTP/1.1", b'"HTTP/1.1"'),
    Op("%RESPONSE_CODE%", HTTP, b"200", b"200"),
    Op("%RESPONSE_CODE%", UF, b"503", b"503"),
    Op("%RESPONSE_CODE_DETAILS%", HTTP, b"via_upstream", b'"via_upstream"'),
    Op("%RESPONSE_CODE_DETAILS%", UF,
       b"upstream_reset_before_response_started{remote_connection_failure|"
       b"delayed_connect_error:_Connection_refused}",
       b'"upstream_reset_before_response_started{remote_connection_failure|'
       b'delayed_connect_error:_Connection_refused}"', id="details: whitespace replaced"),
    Op("%RESPONSE_CODE_DETAILS(ALLOW_WHITESPACES)%", UF,
       b"upstream_reset_before_response_started{remote_connection_failure|"
       b"delayed_connect_error: Connection refused}",
       b'"upstream_reset_before_response_started{remote_connection_failure|'
       b'delayed_connect_error: Connection refused}"', id="details: whitespace allowed"),
    Op("%RESPONSE_CODE_DETAILS%", http_info(response_code_details=None), b"-", b"null"),
    Op("%RESPONSE_FLAGS%", HTTP, b"-", b'"-"', id="no flags: a value, not a missing one"),
    Op("%RESPONSE_FLAGS%", UF, b"UF", b'"UF"'),
    Op("%RESPONSE_FLAGS_LONG%", HTTP, b"-", b'"-"'),
    Op("%RESPONSE_FLAGS_LONG%", UF, b"UpstreamConnectionFailure", b'"UpstreamConnectionFailure"'),
    Op("%BYTES_RECEIVED%", HTTP, b"0", b"0"),
    Op("%BYTES_RECEIVED%", http_info(bytes_received=5), b"5", b"5", id="POST body"),
    Op("%BYTES_SENT%", HTTP, b"12", b"12"),
    Op("%DURATION%", HTTP, b"3", b"3", id="ms, truncated"),
    Op("%REQUEST_DURATION%", HTTP, b"0", b"0"),
    Op("%REQUEST_DURATION%", http_info(request_complete_ms=None), b"-", b"null"),
    Op("%RESPONSE_DURATION%", HTTP, b"3", b"3"),
    Op("%RESPONSE_DURATION%", UF, b"-", b"null"),
    Op("%RESPONSE_TX_DURATION%", HTTP, b"0", b"0"),
    Op("%RESPONSE_TX_DURATION%", http_info(first_upstream_rx_ms=50.2, response_complete_ms=93.1),
       b"42", b"42", id="tx duration of a slow body"),
    Op("%RESPONSE_TX_DURATION%", UF, b"-", b"null"),
    Op("%UPSTREAM_HOST%", HTTP, b"127.0.0.1:34799", b'"127.0.0.1:34799"'),
    Op("%UPSTREAM_HOST%", http_info(upstream_host=None), b"-", b"null"),
    Op("%UPSTREAM_CLUSTER%", HTTP, b"backend", b'"backend"'),
    Op("%UPSTREAM_CLUSTER_RAW%", HTTP, b"backend", b'"backend"'),
    Op("%UPSTREAM_CLUSTER%", http_info(upstream_cluster=None), b"-", b"null"),
    Op("%UPSTREAM_LOCAL_ADDRESS%", HTTP, b"127.0.0.1:46940", b'"127.0.0.1:46940"'),
    Op("%UPSTREAM_LOCAL_ADDRESS%", UF, b"-", b"null", id="never connected"),
    Op("%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", HTTP, b"127.0.0.1", b'"127.0.0.1"'),
    Op("%UPSTREAM_LOCAL_PORT%", HTTP, b"46940", b"46940"),
    Op("%UPSTREAM_TRANSPORT_FAILURE_REASON%", HTTP, b"-", b"null"),
    Op("%UPSTREAM_TRANSPORT_FAILURE_REASON%", UF, b"delayed_connect_error:_Connection_refused",
       b'"delayed_connect_error:_Connection_refused"'),
    Op("%DOWNSTREAM_REMOTE_ADDRESS%", HTTP, b"127.0.0.1:39840", b'"127.0.0.1:39840"'),
    Op("%DOWNSTREAM_REMOTE_ADDRESS%", XFF, b"10.9.9.9:0", b'"10.9.9.9:0"', id="from XFF"),
    Op("%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%", XFF, b"127.0.0.1:39840", b'"127.0.0.1:39840"',
       id="direct: the peer"),
    Op("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", HTTP, b"127.0.0.1", b'"127.0.0.1"'),
    Op("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", IPV6, b"::1", b'"::1"', id="IPv6 no port"),
    Op("%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%", XFF, b"127.0.0.1", b'"127.0.0.1"'),
    Op("%DOWNSTREAM_REMOTE_PORT%", HTTP, b"39840", b"39840"),
    Op("%DOWNSTREAM_REMOTE_PORT%", IPV6, b"5000", b"5000", id="IPv6 port"),
    Op("%DOWNSTREAM_DIRECT_REMOTE_PORT%", XFF, b"39840", b"39840"),
    Op("%DOWNSTREAM_LOCAL_ADDRESS%", HTTP, b"127.0.0.1:10000", b'"127.0.0.1:10000"'),
    Op("%DOWNSTREAM_LOCAL_ADDRESS%", IPV6, b"[::1]:80", b'"[::1]:80"', id="IPv6 local"),
    Op("%DOWNSTREAM_DIRECT_LOCAL_ADDRESS%", HTTP, b"127.0.0.1:10000", b'"127.0.0.1:10000"'),
    Op("%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", HTTP, b"127.0.0.1", b'"127.0.0.1"'),
    Op("%DOWNSTREAM_DIRECT_LOCAL_ADDRESS_WITHOUT_PORT%", IPV6, b"::1", b'"::1"'),
    Op("%DOWNSTREAM_LOCAL_PORT%", HTTP, b"10000", b"10000"),
    Op("%DOWNSTREAM_DIRECT_LOCAL_PORT%", HTTP, b"10000", b"10000"),
    Op("%ROUTE_NAME%", HTTP, b"main_route", b'"main_route"'),
    Op("%ROUTE_NAME%", http_info(route_name=""), b"-", b"null", id="unnamed route"),
    Op("%VIRTUAL_CLUSTER_NAME%", HTTP, b"-", b"null"),
    Op("%CONNECTION_ID%", HTTP, b"1", b"1"),
    Op("%CONNECTION_TERMINATION_DETAILS%", HTTP, b"-", b"null"),
    Op("%CONNECTION_TERMINATION_DETAILS%", http_info(connection_termination_details="closed"),
       b"closed", b'"closed"'),
    Op("%ACCESS_LOG_TYPE%", HTTP, b"DownstreamEnd", b'"DownstreamEnd"'),
    Op("%START_TIME%", HTTP, b"2026-11-23T08:22:48.335Z", b'"2026-11-23T08:22:48.335Z"'),
    Op("%START_TIME(%s)%", HTTP, b"1795422168", b'"1795422168"', id="start time: a string"),
    # TCP proxy: what Envoy printed for the HTTP operators on a TCP connection.
    Op("%REQ(:METHOD)%", TCP, b"-", b"null", tcp=True),
    Op("%REQ(host)%", TCP, b"-", b"null", tcp=True),
    Op("%RESP(:STATUS)%", TCP, b"-", b"null", tcp=True),
    Op("%PROTOCOL%", TCP, b"-", b"null", tcp=True),
    Op("%RESPONSE_CODE%", TCP, b"0", b"0", tcp=True),
    Op("%RESPONSE_CODE_DETAILS%", TCP, b"-", b"null", tcp=True),
    Op("%RESPONSE_FLAGS%", TCP, b"-", b'"-"', tcp=True),
    Op("%BYTES_RECEIVED%", TCP, b"49", b"49", tcp=True),
    Op("%BYTES_SENT%", TCP, b"170", b"170", tcp=True),
    Op("%DURATION%", TCP, b"1", b"1", tcp=True),
    Op("%REQUEST_DURATION%", TCP, b"-", b"null", tcp=True),
    Op("%ROUTE_NAME%", TCP, b"-", b"null", tcp=True),
    Op("%ACCESS_LOG_TYPE%", TCP, b"TcpConnectionEnd", b'"TcpConnectionEnd"', tcp=True),
]


def ids(cases):
    return [case.id or f"{case.operator}{' tcp' if case.tcp else ''}" for case in cases]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_operator_in_text(case):
    assert text(case.operator, case.info, case.tcp) == case.text


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_operator_alone_in_json(case):
    assert json_line({"v": case.operator}, case.info, case.tcp) == b'{"v":%b}\n' % case.json


def test_hostname_is_the_machines():
    import socket
    assert text("%HOSTNAME%", HTTP) == socket.gethostname().encode()


def test_duration_runs_to_now_while_the_stream_has_not_ended():
    info = http_info(response_complete_ms=None, start_monotonic=0.0)
    assert int(text("%DURATION%", info)) > 1000


def test_text_formats_are_printed_as_written():
    # Envoy adds no newline to a text format: lines run together unless the format ends in one.
    assert text("%RESPONSE_CODE%|100%%|end", HTTP) == b"200|100%|end"
    assert text("", HTTP) == b""


def test_omit_empty_values_prints_nothing_for_a_missing_value():
    # Envoy: T 400 [] []  for  "T %RESPONSE_CODE% [%REQ(x-missing)%] [%REQ(user-agent)%]"
    assert text("T %RESPONSE_CODE% [%REQ(x-missing)%] [%REQ(user-agent)%]", HTTP,
                omit_empty_values=True) == b"T 200 [] [curl/8]"
    assert text("%RESPONSE_FLAGS%", HTTP, omit_empty_values=True) == b"-"


def test_header_values_are_printed_raw_in_text():
    info = http_info(request_headers=[(b"user-agent", b'a"b\\c\td \xc3\xa9 \xff\xfe z')])
    assert text("[%REQ(user-agent)%]", info) == b'[a"b\\c\td \xc3\xa9 \xff\xfe z]'
