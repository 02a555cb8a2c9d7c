"""Request targets and Host values: RFC 9110's uri-host [":" port], Envoy's 400s."""
import pytest

from hotproxy.errors import ProtocolError
from hotproxy.http.authority import is_valid_host
from hotproxy.http.http1.codec import RequestDecoder

from test_codec import feed


@pytest.mark.parametrize("host", [
    b"a", b"example.com", b"A.EXAMPLE", b"a:80", b"a:", b"a:0", b"a:65535", b"a:0080", b"", b":80",
    b"1.2.3.4:80", b"[::1]", b"[::1]:8080", b"[2001:db8::1]", b"[v1.x]", b"_a", b"a%20b",
    b"a!$&'()*+,;=", b"a..b", b"a~b", b"a-b",
])
def test_valid_hosts(host):
    assert is_valid_host(host)


@pytest.mark.parametrize("host", [
    "é".encode(), b"\xe9", b"a b", b"a\tb", b"a@b", b"a@b/x", b"a/b", b"a?b", b"a#b", b"a\\b",
    b'a"b', b"a<b", b"a{b", b"a^b", b"a|b", b"a`b", b"a:65536", b"a:99999", b"a:-1", b"a:80:90",
    b"[::1", b"::1", b"[::1]x", b"[zz::1]", b"[::1]:x", b"a:123456789012", b"a%zz",
])
def test_invalid_hosts(host):
    assert not is_valid_host(host)


def test_an_absolute_form_authority_needs_digits_after_its_colon():
    assert is_valid_host(b"a:", port_required=False)
    assert not is_valid_host(b"a:", port_required=True)


def head_for(target, host=b"a", method=b"GET"):
    raw = method + b" " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    return feed(RequestDecoder(), raw, "whole")[0]


@pytest.mark.parametrize("target, path, host", [
    (b"http://h/p?q=1", b"/p?q=1", b"h"),
    (b"HTTP://h/", b"/", b"h"),
    (b"https://h:8443/x", b"/x", b"h:8443"),
    (b"http://h", b"/", b"h"),
    (b"http://h?x", b"/?x", b"h"),
    (b"http://[::1]/", b"/", b"[::1]"),
])
def test_absolute_form_becomes_origin_form_with_the_authority_as_host(target, path, host):
    head = head_for(target, host=b"other")
    assert (head.target, head.host) == (path, host)
    assert head.headers[0] == (b"host", host) and [n for n, _ in head.headers].count(b"host") == 1


@pytest.mark.parametrize("target", [b"ftp://h/", b"http:///p", b"http://h:99999/", b"http://h:/",
                                    b"http://a@b/x", b"http://h%zz/"])
def test_invalid_absolute_forms_are_400(target):
    with pytest.raises(ProtocolError) as caught:
        head_for(target)
    assert caught.value.status == 400


def test_asterisk_form_is_for_options_only():
    assert head_for(b"*", method=b"OPTIONS").target == b"*"
    with pytest.raises(ProtocolError) as caught:
        head_for(b"*")
    assert caught.value.status == 400


@pytest.mark.parametrize("host", [b"a b", b"a/b", b"a:99999", b"a@b"])
def test_an_invalid_host_header_is_400(host):
    with pytest.raises(ProtocolError) as caught:
        head_for(b"/", host=host)
    assert caught.value.status == 400


def test_a_fragment_is_left_for_the_connection_manager_to_refuse():
    assert head_for(b"/a#f").target == b"/a#f"
