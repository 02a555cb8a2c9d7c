"""The ClientHello reader of tls_inspector, on ClientHellos made by Python's own TLS stack: whole,
split at every byte, re-fragmented over several records, truncated and garbled."""
import random
import ssl

import pytest

from hotproxy.listener.filters.client_hello import (NOT_TLS, ClientHello, ClientHelloError, NeedMore,
                                                    inspect)


def client_hello(server_name="www.example.com", alpn=("h2", "http/1.1"), maximum=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    if maximum:
        context.maximum_version = maximum
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def refragment(hello, size):
    """The same handshake message carried in records of at most ``size`` bytes."""
    body = hello[5:]
    version = hello[1:3]
    return b"".join(bytes([22]) + version + len(body[i:i + size]).to_bytes(2, "big") + body[i:i + size]
                    for i in range(0, len(body), size))


def test_server_name_alpn_and_versions():
    hello = inspect(client_hello())
    assert hello == ClientHello("www.example.com", ("h2", "http/1.1"), hello.versions)
    assert 0x0304 in hello.versions


def test_a_tls12_client_and_no_alpn():
    hello = inspect(client_hello(alpn=(), maximum=ssl.TLSVersion.TLSv1_2))
    assert (hello.server_name, hello.alpn) == ("www.example.com", ())
    assert 0x0304 not in hello.versions


def test_no_server_name_for_an_ip_address():
    assert inspect(client_hello(server_name="127.0.0.1")).server_name is None


def test_the_server_name_is_lower_cased():
    assert inspect(client_hello(server_name="API.Example.COM")).server_name == "api.example.com"


def test_every_prefix_needs_more_and_never_errs():
    hello = client_hello()
    for end in range(len(hello)):
        result = inspect(hello[:end])
        assert isinstance(result, NeedMore) and result.at_least > end, end


@pytest.mark.parametrize("size", [1, 7, 100, 512])
def test_a_handshake_over_several_records(size):
    assert inspect(refragment(client_hello(), size)).server_name == "www.example.com"


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x80\x2e\x01\x03\x01",  # SSLv2 hello
    b"\x16\x02\x00\x00\x10", b"\x16\x03\x09", b"\x16\x03\x01\x00\x00", b"\x17\x03\x03\x00\x10",
    b"\x16\x03\x01\x00\x10\x02", b"SSH-2.0-OpenSSH\r\n",
])
def test_bytes_that_are_not_a_client_hello_are_plain(data):
    assert inspect(data) is NOT_TLS


def test_an_oversized_client_hello_is_refused():
    with pytest.raises(ClientHelloError):
        inspect(client_hello(), max_size=64)


def test_a_non_handshake_record_in_the_middle_is_an_error():
    fragments = refragment(client_hello(), 100)
    broken = fragments[:105] + b"\x17" + fragments[106:]
    with pytest.raises(ClientHelloError):
        inspect(broken)


def test_garbled_client_hellos_never_raise_anything_else():
    hello = bytearray(client_hello())
    rng = random.Random(7)
    for _ in range(3000):
        mutated = bytearray(hello)
        for _ in range(rng.randint(1, 6)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cut = rng.randint(0, len(mutated))
        try:
            result = inspect(bytes(mutated[:cut]))
        except ClientHelloError:
            continue
        assert result is NOT_TLS or isinstance(result, (NeedMore, ClientHello))


@pytest.mark.parametrize("start", [b"\x16", b"\x16\x03", b"\x16\x03\x01", b"\x16\x03\x01\x02", b"\x16\x03\x01\x02\x00"])
def test_need_more_asks_for_no_more_than_the_next_byte_that_may_decide(start):
    # Found by fuzzing: one byte asked for five, though two may already be "not TLS"; a caller
    # waiting for ``at_least`` would wait forever on a short plain-text greeting.
    assert inspect(start) == NeedMore(len(start) + 1)
    assert inspect(b"\x16\x01") is NOT_TLS
