"""The heads of a tunnel to an HTTP/2 upstream (router/h2_tunnel_heads.py), as the Envoy 1.40
binary sends and answers them: an upgrade as an extended CONNECT, a CONNECT as an h2 CONNECT, the
upstream's 200 as an HTTP/1.1 client's 101."""
from hotproxy.http.http1.heads import RequestHead
from hotproxy.http.http2.request_head import request_head
from hotproxy.http.router.h2_tunnel_heads import client_response, opens, tunnel_request_headers


def http1_upgrade(upgrade=b"websocket"):
    head = RequestHead()
    head.method, head.target, head.upgrade = b"GET", b"/chat?x=1", upgrade
    return head


def test_an_http1_upgrade_is_an_extended_connect_with_the_clients_headers():
    forwarded = [(b"host", b"example.com"), (b"sec-websocket-key", b"k=="),
                 (b"sec-websocket-version", b"13"), (b"content-length", b"0"),
                 (b"x-forwarded-proto", b"http"), (b"connection", b"upgrade"),
                 (b"upgrade", b"websocket"), (b"keep-alive", b"5"), (b"te", b"trailers")]
    assert tunnel_request_headers(http1_upgrade(), b"/chat?x=1", forwarded, b"http") == [
        (b":method", b"CONNECT"), (b":scheme", b"http"), (b":authority", b"example.com"),
        (b":path", b"/chat?x=1"), (b":protocol", b"websocket"),
        (b"sec-websocket-key", b"k=="), (b"sec-websocket-version", b"13"),
        (b"x-forwarded-proto", b"http")]


def test_the_protocol_keeps_the_clients_spelling_and_the_path_the_rewritten_target():
    headers = tunnel_request_headers(http1_upgrade(b"WebSocket"), b"/rewritten",
                                     [(b"host", b"h")], b"https")
    assert headers[:5] == [(b":method", b"CONNECT"), (b":scheme", b"https"), (b":authority", b"h"),
                           (b":path", b"/rewritten"), (b":protocol", b"WebSocket")]


def test_a_non_empty_content_length_is_kept():
    headers = tunnel_request_headers(http1_upgrade(), b"/", [(b"host", b"h"), (b"content-length", b"3")],
                                     b"http")
    assert (b"content-length", b"3") in headers


def test_an_h2_extended_connect_goes_on_as_one():
    head, target = request_head([(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                                 (b":scheme", b"http"), (b":path", b"/chat"),
                                 (b":authority", b"example.com"), (b"sec-websocket-version", b"13")],
                                False)
    forwarded = head.headers + [(b"x-request-id", b"r")]
    assert tunnel_request_headers(head, target, forwarded, b"http") == [
        (b":method", b"CONNECT"), (b":scheme", b"http"), (b":authority", b"example.com"),
        (b":path", b"/chat"), (b":protocol", b"websocket"), (b"sec-websocket-version", b"13"),
        (b"x-request-id", b"r")]


def test_a_connect_carries_only_method_and_authority():
    head, target = request_head([(b":method", b"CONNECT"), (b":authority", b"db:5432")], False)
    forwarded = head.headers + [(b"x-forwarded-proto", b"http")]
    assert tunnel_request_headers(head, target, forwarded, b"http") == [
        (b":method", b"CONNECT"), (b":authority", b"db:5432"), (b"x-forwarded-proto", b"http")]


def test_an_upgrade_opens_on_200_only_a_connect_on_any_2xx():
    upgrade = http1_upgrade()
    connect, _ = request_head([(b":method", b"CONNECT"), (b":authority", b"db:5432")], False)
    assert [opens(upgrade, status) for status in (200, 201, 101, 403)] == [True, False, False, False]
    assert [opens(connect, status) for status in (200, 204, 299, 300, 403)] == [
        True, True, True, False, False]


def test_the_200_is_an_http1_clients_101_with_upgrade_and_connection_after_the_upstreams_headers():
    upstream = [(b"x-up", b"1"), (b"sec-websocket-protocol", b"chat"), (b"connection", b"close")]
    assert client_response(http1_upgrade(b"WebSocket"), 200, upstream, False) == (101, [
        (b"x-up", b"1"), (b"sec-websocket-protocol", b"chat"),
        (b"upgrade", b"WebSocket"), (b"connection", b"upgrade")])


def test_an_h2_client_and_a_connect_get_the_upstreams_status_and_headers():
    upstream = [(b"x-up", b"1"), (b"transfer-encoding", b"chunked")]
    assert client_response(http1_upgrade(), 200, upstream, True) == (200, [(b"x-up", b"1")])
    connect, _ = request_head([(b":method", b"CONNECT"), (b":authority", b"db:5432")], False)
    assert client_response(connect, 200, upstream, False) == (200, [(b"x-up", b"1")])
