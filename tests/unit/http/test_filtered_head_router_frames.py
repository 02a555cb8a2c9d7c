"""A filtered response whose filters have no body hook is framed by the router, as an unfiltered
one (router/downstream_head.py ``_through_filters``): the encode_headers hooks see the head, and
the router sends it with the body. Whatever else a filter does to the head (hold it, change the
status or the body's length) sends it through the filters' sink, as before, and framed there."""
from types import SimpleNamespace

from hotproxy.http.filter_chain import FilterManager
from hotproxy.http.filters.api import CONTINUE, STOP, HttpFilter, remove_header
from hotproxy.http.router.downstream_head import _through_filters


class Stream:
    replied = False
    response = None

    def __init__(self, trailers=False):
        self.cluster = SimpleNamespace(config=SimpleNamespace(http1_enable_trailers=trailers))


class Head:
    def __init__(self, status=200, content_length=b"5"):
        self.status = status
        self.content_length = content_length


class Adds(HttpFilter):
    def encode_headers(self, stream, response, end_stream):
        response.headers.append((b"x-cors", b"1"))
        return CONTINUE


class Holds(HttpFilter):
    def encode_headers(self, stream, response, end_stream):
        return STOP


class Unlengths(HttpFilter):
    def encode_headers(self, stream, response, end_stream):
        remove_header(response.headers, b"content-length")
        return CONTINUE


class Lengthens(HttpFilter):
    def encode_headers(self, stream, response, end_stream):
        response.headers.append((b"content-length", b"0"))
        return CONTINUE


class Teapot(HttpFilter):
    def encode_headers(self, stream, response, end_stream):
        response.status = 418
        return CONTINUE


class Upper(HttpFilter):
    def encode_data(self, stream, data, end_stream):
        return data.upper()


def run(*filters, head=None, head_only=False, trailers=False):
    """(what _through_filters returned, the heads the filters' sink got)."""
    stream = Stream(trailers)
    sunk = []
    manager = stream.filters = FilterManager(
        stream, list(filters), (lambda *_: None, lambda *_: None),
        (lambda s, end: sunk.append((s.response.status, list(s.response.headers), end)),
         lambda *_: None))
    manager.router_frames = manager.body_passes     # as run_filters sets it for HTTP/1.1
    manager.decode_headers(True)
    head = head or Head()
    headers = [(b"content-length", head.content_length)] if head.content_length else []
    return _through_filters(stream, head.status, head, headers, head_only), sunk


def test_a_head_every_filter_passed_goes_back_to_the_router_with_their_edits():
    headers, sunk = run(Adds())
    assert headers == [(b"content-length", b"5"), (b"x-cors", b"1")] and sunk == []


def test_a_chunked_head_too_when_the_router_forwards_no_trailers():
    assert run(Adds(), head=Head(content_length=None))[0] == [(b"x-cors", b"1")]


def test_a_held_head_stays_with_the_filters():
    headers, sunk = run(Adds(), Holds())
    assert headers is None and sunk == []


def test_a_changed_length_or_status_is_framed_by_the_filters_sink():
    for filter_ in (Unlengths(), Teapot()):
        headers, sunk = run(filter_)
        assert headers is None and len(sunk) == 1
    headers, sunk = run(Lengthens(), head=Head(content_length=None))
    assert headers is None and sunk == [(200, [(b"content-length", b"0")], False)]


def test_a_chunked_head_whose_trailers_the_router_forwards_is_framed_by_the_router_too():
    # no filter has an encode_trailers hook: the router's last chunk carries them, as without
    # filters
    headers, sunk = run(Adds(), head=Head(content_length=None), trailers=True)
    assert headers == [(b"x-cors", b"1")] and sunk == []


def test_a_chunked_head_only_response_stays_with_the_router():
    # the router says transfer-encoding: chunked to a HEAD as the sink does (as Envoy does)
    headers, sunk = run(Adds(), head=Head(content_length=None), head_only=True)
    assert headers == [(b"x-cors", b"1")] and sunk == []


def test_a_filter_with_a_body_hook_takes_the_response():
    headers, sunk = run(Adds(), Upper())
    assert headers is None and sunk == [(200, [(b"content-length", b"5"), (b"x-cors", b"1")], False)]


def test_a_bodiless_status_stays_with_the_router():
    headers, sunk = run(Adds(), head=Head(status=204, content_length=None))
    assert headers == [(b"x-cors", b"1")] and sunk == []
