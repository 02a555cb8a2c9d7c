"""B3 (multi-header and single) and W3C trace context, read and written as Envoy's tracers do."""
import pytest

from hotproxy.tracing import b3, w3c
from hotproxy.tracing.span import SERVER, Span

TRACE = "463ac35c9f6413ad48485a3953bb6124"


def test_multi_header_b3_with_parent_and_sampled():
    found = b3.extract([(b"x-b3-traceid", TRACE.encode()), (b"x-b3-spanid", b"a2fb4a1d1a96d312"),
                        (b"x-b3-parentspanid", b"0020000000000001"), (b"x-b3-sampled", b"1")])
    assert (found.trace_id, found.wide, found.span_id, found.parent_id, found.sampled,
            found.single) == (int(TRACE, 16), True, 0xa2fb4a1d1a96d312, 0x20000000000001, True,
                              False)


@pytest.mark.parametrize("headers, sampled", [
    ([(b"x-b3-sampled", b"0")], False), ([(b"x-b3-sampled", b"true")], True),
    ([(b"x-b3-flags", b"1"), (b"x-b3-sampled", b"0")], True), ([(b"b3", b"0")], False),
    ([(b"b3", b"d")], True), ([], None)])
def test_a_sampling_state_alone_carries_no_context(headers, sampled):
    found = b3.extract(headers)
    assert (found.sampled, found.span_id) == (sampled, 0)


def test_single_b3_with_all_four_fields():
    found = b3.extract([(b"b3", b"80f198ee56343ba8-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")])
    assert (found.trace_id, found.wide, found.span_id, found.sampled, found.parent_id,
            found.single) == (0x80f198ee56343ba8, False, 0xe457b5a2e4d86bd1, True,
                              0x05e3ac9a4f6e3b90, True)


@pytest.mark.parametrize("headers", [
    [(b"x-b3-traceid", TRACE.encode())],                          # no span id
    [(b"x-b3-traceid", b"123"), (b"x-b3-spanid", b"a2fb4a1d1a96d312")],
    [(b"x-b3-traceid", TRACE.encode()), (b"x-b3-spanid", b"zzfb4a1d1a96d312")],
    [(b"x-b3-traceid", b"0" * 16), (b"x-b3-spanid", b"a2fb4a1d1a96d312")],
    [(b"b3", b"80f198ee56343ba8-e457b5a2e4d86bd1-x")],
    [(b"b3", b"a-b-c-d-e")]])
def test_malformed_b3_is_refused(headers):
    with pytest.raises(b3.Malformed):
        b3.extract(headers)


def span(parent=0, sampled=True, wide=False):
    return Span("op", int(TRACE, 16) if wide else 0x463ac35c9f6413ad, wide, 0xa2fb4a1d1a96d312,
                parent, SERVER, 0, sampled)


def test_injection_replaces_in_place_and_adds_what_is_missing():
    headers = [(b"host", b"h"), (b"x-b3-spanid", b"0000000000000001")]
    b3.inject(headers, span(parent=7), single=False)
    assert headers == [(b"host", b"h"), (b"x-b3-spanid", b"a2fb4a1d1a96d312"),
                       (b"x-b3-traceid", b"463ac35c9f6413ad"),
                       (b"x-b3-parentspanid", b"0000000000000007"), (b"x-b3-sampled", b"1")]


def test_injection_without_b3_headers_only_adds():
    headers = [(b"host", b"h")]
    b3.inject(headers, span(), single=False, present=False)
    assert headers == [(b"host", b"h"), (b"x-b3-traceid", b"463ac35c9f6413ad"),
                       (b"x-b3-spanid", b"a2fb4a1d1a96d312"), (b"x-b3-sampled", b"1")]
    assert b3.extract(headers).present and not b3.extract([(b"host", b"h")]).present


def test_single_injection_for_a_single_header_caller():
    headers = [(b"b3", b"old")]
    b3.inject(headers, span(sampled=False, wide=True), single=True)
    assert headers == [(b"b3", f"{TRACE}-a2fb4a1d1a96d312-0".encode())]


def test_traceparent_and_tracestate():
    found = w3c.extract([(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                         (b"tracestate", b"a=1"), (b"tracestate", b"b=2")])
    assert found == (0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, True, b"a=1,b=2")
    assert w3c.extract([(b"host", b"x")]) is None


@pytest.mark.parametrize("value", [
    b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", b"ff-" + b"1" * 32 + b"-" + b"1" * 16 + b"-01",
    b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01", b"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"])
def test_malformed_traceparent_is_refused(value):
    with pytest.raises(w3c.Malformed):
        w3c.extract([(b"traceparent", value)])


def test_traceparent_injection_always_says_tracestate():
    headers = []
    w3c.inject(headers, span(wide=True))
    assert headers[1] == (b"tracestate", b"")


def test_traceparent_injection():
    s = span(wide=True)
    s.tracestate = b"a=1"
    headers = [(b"traceparent", b"stale")]
    w3c.inject(headers, s)
    assert headers == [(b"traceparent", f"00-{TRACE}-a2fb4a1d1a96d312-01".encode()),
                       (b"tracestate", b"a=1")]
