"""headers.nominated_headers: what a Connection header makes hop-by-hop, the plain values
(keep-alive, close, any case seen in practice) included."""
import pytest

from hotproxy.http.headers import PLAIN_CONNECTION_VALUES, nominated_headers


@pytest.mark.parametrize("value", sorted(PLAIN_CONNECTION_VALUES) + [b"", b"KEEP-ALIVE", b" close "])
def test_options_nominate_no_header(value):
    assert not nominated_headers(value)


def test_header_names_are_nominated_lower_cased_framing_excepted():
    assert nominated_headers(b"Keep-Alive, X-Foo, content-length, Transfer-Encoding, te") == {
        b"x-foo", b"te"}
