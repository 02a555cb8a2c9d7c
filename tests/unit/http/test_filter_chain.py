"""The filter chain's pass through its filters (http/filter_chain.py), sans-IO: order,
STOP with buffering, replaced data, local replies and which filters encode them."""
from hotproxy.http.filter_chain import FilterManager
from hotproxy.http.filters.api import CONTINUE, STOP, HttpFilter, Response


class Stream:
    def __init__(self):
        self.replied = False
        self.response = None
        self.head = None    # a request without trailers


class Recorder(HttpFilter):
    def __init__(self, name, log, on_headers=CONTINUE, on_data=None, encode=None):
        self.name, self.log = name, log
        self.on_headers, self.on_data, self.encode = on_headers, on_data, encode

    def decode_headers(self, stream, end_stream):
        self.log.append((self.name, "headers", end_stream))
        return self.on_headers(stream) if callable(self.on_headers) else self.on_headers

    def decode_data(self, stream, data, end_stream):
        self.log.append((self.name, "data", data, end_stream))
        return self.on_data(data, end_stream) if self.on_data else CONTINUE

    def encode_headers(self, stream, response, end_stream):
        self.log.append((self.name, "encode", response.status))
        response.headers.append((b"x-seen-by", self.name.encode()))
        return CONTINUE

    def encode_data(self, stream, data, end_stream):
        return self.encode(data) if self.encode else CONTINUE


def chain(*filters):
    stream = Stream()
    got = []
    sent = []
    manager = FilterManager(
        stream, list(filters),
        (lambda _, end: got.append(("headers", end)),
         lambda _, data, end: got.append(("data", data, end))),
        (lambda _, end: sent.append(("head", list(stream.response.headers), end)),
         lambda _, data, end: sent.append(("body", data, end))))
    return stream, manager, got, sent


def test_filters_run_in_order_and_the_router_gets_what_they_pass():
    log = []
    _, manager, got, _ = chain(Recorder("a", log), Recorder("b", log))
    manager.decode_headers(False)
    manager.decode_data(b"x", False)
    manager.decode_data(b"", True)
    assert [entry[:2] for entry in log] == [("a", "headers"), ("b", "headers"), ("a", "data"),
                                            ("b", "data"), ("a", "data"), ("b", "data")]
    assert got == [("headers", False), ("data", b"x", False), ("data", b"", True)]


def test_a_filter_that_stops_holds_the_head_and_buffers_until_it_continues():
    log = []
    until_end = Recorder("buffer", log, on_headers=STOP,
                         on_data=lambda data, end: CONTINUE if end else STOP)
    _, manager, got, _ = chain(until_end, Recorder("after", log))
    manager.decode_headers(False)
    manager.decode_data(b"one ", False)
    manager.decode_data(b"two", False)
    assert got == [] and ("after", "headers", False) not in log
    manager.decode_data(b"", True)
    assert got == [("headers", False), ("data", b"one two", True)]
    assert ("after", "data", b"one two", True) in log


def test_a_stop_on_a_head_that_ends_the_stream_is_decided_at_once():
    log = []
    _, manager, got, _ = chain(Recorder("hold", log, on_headers=STOP))
    manager.decode_headers(True)
    assert got == [("headers", True)]


def test_returned_bytes_replace_the_data_and_what_was_buffered():
    log = []
    upper = Recorder("upper", log, on_data=lambda data, end: b"REPLACED" if end else STOP)
    _, manager, got, _ = chain(upper)
    manager.decode_headers(False)
    manager.decode_data(b"abc", False)
    manager.decode_data(b"def", True)
    assert got == [("headers", False), ("data", b"REPLACED", True)]


def test_a_local_reply_stops_decoding_and_is_encoded_by_the_filters_that_saw_the_request():
    log = []

    def deny(stream):
        stream.replied = True
        stream.response = Response(403, [])
        manager.encode_headers(True)
        return STOP

    stream, manager, got, sent = chain(Recorder("first", log), Recorder("denier", log, on_headers=deny),
                                       Recorder("never", log))
    manager.decode_headers(True)
    assert got == []
    assert ("never", "headers", True) not in log
    (head,) = sent
    assert head[1] == [(b"x-seen-by", b"denier"), (b"x-seen-by", b"first")] and head[2] is True


def test_responses_pass_the_filters_in_reverse_order():
    log = []
    stream, manager, _, sent = chain(Recorder("a", log, encode=lambda d: d.upper()), Recorder("b", log))
    manager.decode_headers(True)
    stream.response = Response(200, [])
    manager.encode_headers(False)
    manager.encode_data(b"body", True)
    assert sent[0][1] == [(b"x-seen-by", b"b"), (b"x-seen-by", b"a")]
    assert sent[1] == ("body", b"BODY", True)
    assert manager.encoding_ended


class TrailerEditor(HttpFilter):
    def encode_trailers(self, stream, trailers):
        trailers.append((b"x-edited", b"1"))
        return CONTINUE


class TrailersIntoBody(HttpFilter):
    def encode_trailers(self, stream, trailers):
        return b"|" + b";".join(b"%s=%s" % pair for pair in trailers)


def with_trailers_sink(*filters):
    stream, manager, got, sent = chain(*filters)
    manager.encoding.sink_trailers = lambda _, trailers: sent.append(("trailers", list(trailers)))
    manager.decode_headers(True)
    return stream, manager, sent


def test_trailers_pass_the_encode_filters_to_the_trailers_sink():
    stream, manager, sent = with_trailers_sink(TrailerEditor())
    stream.response = Response(200, [])
    manager.encode_headers(False)
    manager.encode_data(b"body", False)
    manager.encode_trailers([(b"grpc-status", b"0")])
    assert sent[-1] == ("trailers", [(b"grpc-status", b"0"), (b"x-edited", b"1")])


def test_a_filter_may_turn_the_trailers_into_the_last_body_piece():
    stream, manager, sent = with_trailers_sink(TrailerEditor(), TrailersIntoBody())
    stream.response = Response(200, [])
    manager.encode_headers(False)
    manager.encode_trailers([(b"grpc-status", b"0")])
    # reverse order: TrailersIntoBody (last in config) sees them first; TrailerEditor never does
    assert sent[-1] == ("body", b"|grpc-status=0", True)


def test_without_a_trailers_sink_the_response_just_ends():
    stream, manager, _, sent = chain(TrailerEditor())
    manager.decode_headers(True)
    stream.response = Response(200, [])
    manager.encode_headers(False)
    manager.encode_trailers([(b"grpc-status", b"0")])
    assert sent[-1] == ("body", b"", True)
