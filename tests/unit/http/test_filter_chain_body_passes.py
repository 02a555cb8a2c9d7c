"""What the chain works out per stream so that a response pays less (http/filter_chain.py).
``body_passes``: when no filter of a stream has an encode_data or encode_trailers hook, body
pieces go straight to the sink, unless a filter holds the response head. A filter that holds the
head without a data hook continues at the first body piece, as the API says (its inherited
encode_data continues).
``enders``: only the filters with an on_stream_end hook are called at the end."""
from hotproxy.http.filter_chain import FilterManager
from hotproxy.http.filters.api import CONTINUE, STOP, HttpFilter, Response


class Stream:
    replied = False
    response = None


class HeadersOnly(HttpFilter):
    def __init__(self, on_encode=CONTINUE):
        self.on_encode = on_encode

    def encode_headers(self, stream, response, end_stream):
        response.headers.append((b"x-seen", b"1"))
        return self.on_encode


class Upper(HttpFilter):
    def encode_data(self, stream, data, end_stream):
        return data.upper()


class Trailing(HttpFilter):
    def encode_trailers(self, stream, trailers):
        return CONTINUE


def chain(*filters):
    stream = Stream()
    sent = []
    manager = FilterManager(
        stream, list(filters), (lambda *_: None, lambda *_: None),
        (lambda _, end: sent.append(("head", list(stream.response.headers), end)),
         lambda _, data, end: sent.append(("body", data, end))))
    return stream, manager, sent


def respond(stream, manager, *pieces):
    manager.decode_headers(True)      # the request passed every filter
    stream.response = Response(200, [])
    manager.encode_headers(False)
    for index, piece in enumerate(pieces):
        manager.encode_data(piece, index == len(pieces) - 1)


def test_headers_only_filters_let_the_body_pass_straight():
    stream, manager, sent = chain(HeadersOnly(), HeadersOnly())
    assert manager.body_passes
    respond(stream, manager, b"a", b"", b"b")
    assert sent == [("head", [(b"x-seen", b"1"), (b"x-seen", b"1")], False),
                    ("body", b"a", False), ("body", b"b", True)]     # the empty piece dropped
    assert manager.encoding_ended


def test_a_body_hook_anywhere_keeps_the_body_in_the_filters():
    for body_filter in (Upper(), Trailing()):
        assert not chain(HeadersOnly(), body_filter)[1].body_passes
    stream, manager, sent = chain(HeadersOnly(), Upper())
    respond(stream, manager, b"a", b"b")
    assert sent[1:] == [("body", b"A", False), ("body", b"B", True)]


def test_a_head_held_by_a_filter_without_a_data_hook_goes_before_its_body():
    stream, manager, sent = chain(HeadersOnly(), HeadersOnly(on_encode=STOP))
    assert manager.body_passes
    stream.response = None
    respond(stream, manager, b"one ", b"two")
    assert sent == [("head", [(b"x-seen", b"1"), (b"x-seen", b"1")], False),
                    ("body", b"one ", False), ("body", b"two", True)]
    assert manager.encoding_ended


class Buffering(HttpFilter):
    def encode_headers(self, stream, response, end_stream):
        return STOP

    def encode_data(self, stream, data, end_stream):
        return CONTINUE if end_stream else STOP


def test_a_holder_with_a_data_hook_buffers_the_body_until_it_continues():
    stream, manager, sent = chain(HeadersOnly(), Buffering())
    respond(stream, manager, b"one ", b"two")
    assert sent == [("head", [(b"x-seen", b"1")], False), ("body", b"one two", True)]


class Ending(HttpFilter):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def on_stream_end(self, stream):
        self.log.append(self.name)


def test_the_end_of_the_stream_reaches_the_filters_with_the_hook_in_order():
    log = []
    _, manager, _ = chain(Ending("a", log), HeadersOnly(), Ending("b", log))
    manager.on_stream_end()
    assert log == ["a", "b"]
    assert chain(HeadersOnly())[1].ender_at is None
    chain(HeadersOnly())[1].on_stream_end()     # nothing to call
