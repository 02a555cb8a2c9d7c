"""forwarded_headers with ``Expect: 100-continue``: the Expect header goes (the proxy answered
it), and the x-forwarded-* and x-request-id headers are edited wherever they stand, after it
too (they once went unseen there: the client's own stayed beside the proxy's)."""
from types import SimpleNamespace

import pytest

from hotproxy.http.request_headers import forwarded_headers


def decorated(headers, use_remote_address=True, expect_continue=True):
    head = SimpleNamespace(headers=list(headers), hop_by_hop=False, nominated=(),
                           expect_continue=expect_continue)
    hcm = SimpleNamespace(use_remote_address=use_remote_address, xff_num_trusted_hops=0,
                          generate_request_id=True)
    conn = SimpleNamespace(hcm=hcm, remote_ip="10.0.0.9", scheme=b"http", tls=None)
    return forwarded_headers(conn, SimpleNamespace(head=head))


CLIENT_HEADERS = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https"),
                  (b"x-request-id", b"from-the-client")]


@pytest.mark.parametrize("expect_at", [0, 1, 2, 3])
def test_the_client_headers_are_edited_before_and_after_the_expect_header(expect_at):
    headers = CLIENT_HEADERS[:expect_at] + [(b"expect", b"100-continue")] + CLIENT_HEADERS[expect_at:]
    out = decorated([(b"host", b"a")] + headers)
    names = [name for name, _ in out]
    assert b"expect" not in names
    for name in (b"x-forwarded-for", b"x-forwarded-proto", b"x-request-id"):
        assert names.count(name) == 1, (name, out)
    values = dict(out)
    assert values[b"x-forwarded-for"] == b"1.2.3.4,10.0.0.9"
    assert values[b"x-forwarded-proto"] == b"http"
    assert values[b"x-request-id"] != b"from-the-client"
    assert values[b"x-envoy-external-address"] == b"10.0.0.9"


def test_the_edited_headers_keep_their_places():
    out = decorated([(b"host", b"a"), (b"expect", b"100-continue")] + CLIENT_HEADERS
                    + [(b"accept", b"*/*")])
    assert [name for name, _ in out][:5] == [b"host", b"x-forwarded-for", b"x-forwarded-proto",
                                             b"x-request-id", b"accept"]


def test_without_use_remote_address_the_client_ones_are_kept_once():
    out = decorated([(b"host", b"a"), (b"expect", b"100-continue")] + CLIENT_HEADERS,
                    use_remote_address=False)
    assert out == [(b"host", b"a")] + CLIENT_HEADERS


def test_an_expect_header_is_kept_when_it_asks_for_no_100_continue():
    out = decorated([(b"host", b"a"), (b"expect", b"something")], expect_continue=False)
    assert (b"expect", b"something") in out


def test_a_forged_client_certificate_header_after_the_expect_header_is_sanitized():
    head = SimpleNamespace(headers=[(b"host", b"a"), (b"expect", b"100-continue"),
                                    (b"x-forwarded-client-cert", b"By=spiffe://forged")],
                           hop_by_hop=False, nominated=(), expect_continue=True)
    hcm = SimpleNamespace(use_remote_address=False, generate_request_id=False, client_cert_details=None,
                          config=SimpleNamespace(forward_client_cert_details="SANITIZE"))
    conn = SimpleNamespace(hcm=hcm, remote_ip="10.0.0.9", scheme=b"http", tls=None)
    out = forwarded_headers(conn, SimpleNamespace(head=head))
    assert [name for name, _ in out] == [b"host", b"x-forwarded-proto"]
