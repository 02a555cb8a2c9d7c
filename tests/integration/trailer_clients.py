"""The HTTP/2 client of the HTTP/1.1 trailer tests (test_http1_trailers*.py): a POST whose
body ends with a trailer section."""
from h2_client import H2Client, H2Response


def h2_post_with_trailers(port):
    """POST / with ``te: trailers`` over HTTP/2: the body ``abc``, then the trailer
    ``x-req-t: 1``. Returns the response (an H2Response), read to its end."""
    client = H2Client(port)
    try:
        conn = client.conn
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, [(b":method", b"POST"), (b":scheme", b"http"),
                                      (b":authority", b"x"), (b":path", b"/"), (b"te", b"trailers")])
        conn.send_data(stream_id, b"abc")
        conn.send_headers(stream_id, [(b"x-req-t", b"1")], end_stream=True)
        client.responses[stream_id] = H2Response()
        client._flush()
        return client.response(stream_id)
    finally:
        client.close()
