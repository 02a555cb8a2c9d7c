"""The request decoder after the rest of a Content-Length body was spliced around it
(http/router/spliced_body.py): the request ends, and the next one parses from its first byte."""
from hotproxy.http.http1.codec import END, RequestDecoder, RequestHead


def test_a_body_consumed_around_the_decoder_ends_the_request():
    decoder = RequestDecoder()
    events = decoder.feed(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" + b"a" * 1000)
    assert events[0].__class__ is RequestHead and bytes(events[1]) == b"a" * 1000
    events.clear()
    assert decoder.mid_message
    decoder.body_consumed()     # the other 99,000 bytes went socket -> pipe -> socket
    assert decoder.events == [END] and not decoder.mid_message
    decoder.events.clear()
    events = decoder.feed(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    assert events[0].target == b"/next" and events[1] is END
