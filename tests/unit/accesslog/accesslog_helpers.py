"""StreamInfos to format in tests: one proxied HTTP request and one TCP connection, shaped like
the ones Envoy 1.40 logged in the lab (see test_accesslog_default_format.py), and a helper to
compile a format."""
import calendar

from hotproxy.accesslog.format import compile_format
from hotproxy.config.accesslog import LogFormat
from hotproxy.stream_info import StreamInfo

#: 2026-11-23T08:22:48.335123Z
START = calendar.timegm((2026, 11, 23, 8, 22, 48)) + 0.335123
REQUEST_ID = b"d0737e41-0c2c-4e86-ba95-ebc05c7d8b03"


def http_info(**facts) -> StreamInfo:
    """GET /a?b=1 to example.com, answered 200 with 12 body bytes by 127.0.0.1:34799."""
    info = StreamInfo.started(START, 1000.0)
    info.protocol = "HTTP/1.1"
    info.method = b"GET"
    info.path = b"/a?b=1"
    info.scheme = b"http"
    info.request_headers = [
        (b"host", b"example.com"), (b"user-agent", b"curl/8"), (b"x-forwarded-for", b"1.2.3.4"),
        (b"x-forwarded-proto", b"http"), (b"x-request-id", REQUEST_ID),
        (b"x-envoy-expected-rq-timeout-ms", b"15000")]
    info.response_headers = [
        (b"date", b"Mon, 23 Nov 2026 08:22:48 GMT"), (b"content-length", b"12"),
        (b"x-test", b"resp-value"), (b"x-envoy-upstream-service-time", b"3"),
        (b"server", b"envoy")]
    info.response_code = 200
    info.response_code_details = "via_upstream"
    info.bytes_sent = 12
    info.request_complete_ms = 0.4
    info.first_upstream_rx_ms = 3.2
    info.response_complete_ms = 3.9
    info.upstream_host = "127.0.0.1:34799"
    info.upstream_cluster = "backend"
    info.upstream_local_address = "127.0.0.1:46940"
    info.downstream_remote_address = "127.0.0.1:39840"
    info.downstream_direct_remote_address = "127.0.0.1:39840"
    info.downstream_local_address = "127.0.0.1:10000"
    info.route_name = "main_route"
    info.connection_id = 1
    for name, value in facts.items():
        setattr(info, name, value)
    return info


def tcp_info(**facts) -> StreamInfo:
    """A TCP proxy connection that moved 49 bytes up and 170 down in 1 ms."""
    info = StreamInfo.started(START, 1000.0)
    info.bytes_received = 49
    info.bytes_sent = 170
    info.response_complete_ms = 1.2
    info.upstream_host = "127.0.0.1:34799"
    info.upstream_cluster = "backend"
    info.upstream_local_address = "127.0.0.1:46948"
    info.downstream_remote_address = "127.0.0.1:48370"
    info.downstream_direct_remote_address = "127.0.0.1:48370"
    info.downstream_local_address = "127.0.0.1:10001"
    info.connection_id = 7
    for name, value in facts.items():
        setattr(info, name, value)
    return info


def text(format_text, info, tcp=False, omit_empty_values=False) -> bytes:
    log_format = LogFormat(text=format_text, omit_empty_values=omit_empty_values)
    return compile_format(log_format, "fmt", tcp).format(info)


def json_line(struct, info, tcp=False, omit_empty_values=False) -> bytes:
    log_format = LogFormat(json=struct, omit_empty_values=omit_empty_values)
    return compile_format(log_format, "fmt", tcp).format(info)
