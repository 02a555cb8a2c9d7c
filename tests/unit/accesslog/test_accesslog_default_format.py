"""Envoy's default format, line for line as Envoy 1.40 wrote it in the lab (file access log
without log_format, one HCM and one TCP proxy listener; the Envoy line is quoted above each case,
the StreamInfo carries the facts of that exchange)."""
import pytest

from hotproxy.accesslog.format import DEFAULT_FORMAT, compile_format

from accesslog_helpers import START, http_info, tcp_info

CASES = {
    # [2026-11-23T08:22:48.335Z] "GET /a?b=1 HTTP/1.1" 200 - 0 12 3 3 "1.2.3.4" "curl/8"
    # "d0737e41-0c2c-4e86-ba95-ebc05c7d8b03" "example.com" "127.0.0.1:34799"
    "proxied GET": (http_info(), False,
                    b'[2026-11-23T08:22:48.335Z] "GET /a?b=1 HTTP/1.1" 200 - 0 12 3 3 "1.2.3.4" '
                    b'"curl/8" "d0737e41-0c2c-4e86-ba95-ebc05c7d8b03" "example.com" '
                    b'"127.0.0.1:34799"\n'),
    # [2026-11-23T08:22:48.340Z] "POST /post HTTP/1.1" 200 - 5 12 46 2 "-" "-"
    # "dfc39d3f-4da7-4d3f-9479-874d1fe524a0" "h" "127.0.0.1:34799"
    "proxied POST": (http_info(
        start_time=START + 0.005, method=b"POST", path=b"/post", bytes_received=5,
        response_complete_ms=46.8,
        request_headers=[(b"host", b"h"), (b"content-length", b"5"),
                         (b"x-forwarded-proto", b"http"),
                         (b"x-request-id", b"dfc39d3f-4da7-4d3f-9479-874d1fe524a0")],
        response_headers=[(b"content-length", b"12"), (b"x-envoy-upstream-service-time", b"2")]),
        False,
        b'[2026-11-23T08:22:48.340Z] "POST /post HTTP/1.1" 200 - 5 12 46 2 "-" "-" '
        b'"dfc39d3f-4da7-4d3f-9479-874d1fe524a0" "h" "127.0.0.1:34799"\n'),
    # [2026-11-23T08:22:48.387Z] "GET /dead HTTP/1.1" 503 UF 0 98 3 - "-" "-"
    # "1deb839b-4c6b-4090-b779-072778f42c09" "h" "127.0.0.1:48413"
    "connect failure": (http_info(
        start_time=START + 0.052, path=b"/dead", response_code=503, response_flags={"UF"},
        bytes_sent=98, response_complete_ms=3.1, first_upstream_rx_ms=None,
        upstream_host="127.0.0.1:48413", upstream_local_address=None,
        request_headers=[(b"host", b"h"), (b"x-forwarded-proto", b"http"),
                         (b"x-request-id", b"1deb839b-4c6b-4090-b779-072778f42c09")],
        response_headers=[(b"content-length", b"98"), (b"content-type", b"text/plain")]),
        False,
        b'[2026-11-23T08:22:48.387Z] "GET /dead HTTP/1.1" 503 UF 0 98 3 - "-" "-" '
        b'"1deb839b-4c6b-4090-b779-072778f42c09" "h" "127.0.0.1:48413"\n'),
    # [2026-11-23T08:22:48.392Z] "GET /direct HTTP/1.1" 204 - 0 0 0 - "-" "-"
    # "d2b8010c-9dfe-4902-b41f-f6044eb6e7d8" "h" "-"
    "direct response": (http_info(
        start_time=START + 0.057, path=b"/direct", response_code=204, bytes_sent=0,
        response_complete_ms=0.3, upstream_host=None,
        request_headers=[(b"host", b"h"), (b"x-forwarded-proto", b"http"),
                         (b"x-request-id", b"d2b8010c-9dfe-4902-b41f-f6044eb6e7d8")],
        response_headers=[(b"date", b"Mon, 23 Nov 2026 08:22:48 GMT"), (b"server", b"envoy")]),
        False,
        b'[2026-11-23T08:22:48.392Z] "GET /direct HTTP/1.1" 204 - 0 0 0 - "-" "-" '
        b'"d2b8010c-9dfe-4902-b41f-f6044eb6e7d8" "h" "-"\n'),
    # [2026-11-23T08:22:49.394Z] "- - HTTP/1.1" 0 DC 0 0 0 - "-" "-" "-" "-" "-"
    # (the client sent half a request head and closed)
    "downstream close mid-head": (http_info(
        start_time=START + 1.059, method=None, path=None, scheme=None, request_headers=[],
        response_headers=None, response_code=0, response_flags={"DC"}, bytes_sent=0,
        response_complete_ms=0.2, upstream_host=None), False,
        b'[2026-11-23T08:22:49.394Z] "- - HTTP/1.1" 0 DC 0 0 0 - "-" "-" "-" "-" "-"\n'),
    # [2026-11-23T08:22:49.394Z] "- - -" 0 - 49 170 1 - "-" "-" "-" "-" "127.0.0.1:34799"
    "tcp proxy": (tcp_info(start_time=START + 1.059), True,
                  b'[2026-11-23T08:22:49.394Z] "- - -" 0 - 49 170 1 - "-" "-" "-" "-" '
                  b'"127.0.0.1:34799"\n'),
}


@pytest.mark.parametrize("info, tcp, line", CASES.values(), ids=CASES.keys())
def test_default_format_line_as_envoy_printed_it(info, tcp, line):
    assert compile_format(None, "fmt", tcp).format(info) == line


def test_the_default_format_is_envoys():
    assert DEFAULT_FORMAT == (
        '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
        '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
        '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
        '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n')


def test_the_original_path_wins_over_the_rewritten_one():
    # Envoy logs the path the client sent when a route rewrote it.
    info = http_info(path=b"/rewritten/orig/path?q=1",
                     request_headers=[(b"host", b"h"),
                                      (b"x-envoy-original-path", b"/orig/path?q=1")])
    assert b'"GET /orig/path?q=1 HTTP/1.1"' in compile_format(None, "fmt", False).format(info)
