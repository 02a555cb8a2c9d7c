"""Micro-benchmark of the HTTP/2 library under hotproxy's codec: h2 (pure Python) against jh2 (h2's
API with a native HPACK), and hotproxy's ServerCodec on the library it imports; with
``--client``, hotproxy's ClientCodec (the upstream side) against a jh2 server instead.

A client connection sends N GET requests (4 pseudo-headers, 8 realistic ones), 50 concurrent
streams per batch; the server answers each with a 200, 5 headers and a 12-byte body (and, in a
second case, a 64 KiB body). CPU time (time.process_time) is taken around the server side only; the figure is µs of CPU
per request, the median of 5 repetitions interleaved between the libraries.

The ClientCodec figure is the client side's CPU: sending the requests, receiving the responses
(HEADERS with ``:status`` 200 and the body) and handing back the windows.

Run: .venv/bin/python bench/h2_codec.py [requests] [--client]
(another checkout's codec: PYTHONPATH=<checkout> .venv/bin/python bench/h2_codec.py ...)
"""
import importlib
import statistics
import sys
import time

BATCH = 50
REPS = 5
REQUEST_HEADERS = [
    (b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"api.example.com"),
    (b":path", b"/api/v1/users/12345?fields=name,email"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"),
    (b"accept", b"application/json, text/plain, */*"), (b"accept-encoding", b"gzip, deflate, br"),
    (b"accept-language", b"en-US,en;q=0.9"), (b"cookie", b"session=3f9a0c2e7b; theme=dark"),
    (b"x-request-id", b"4f1c1f5e-8a2b-4c3d-9e0f-1a2b3c4d5e6f"),
    (b"authorization", b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"),
    (b"x-forwarded-for", b"203.0.113.7"),
]
RESPONSE_HEADERS = [(b"content-type", b"application/json"),
                    (b"date", b"Sun, 06 Dec 2026 10:00:00 GMT"), (b"server", b"hotproxy"),
                    (b"cache-control", b"no-cache"), (b"x-envoy-upstream-service-time", b"3")]
BIG_WINDOW = 268435456


def library_connection(name, client_side):
    config = importlib.import_module(name + ".config")
    connection = importlib.import_module(name + ".connection")
    conn = connection.H2Connection(config.H2Configuration(client_side=client_side))
    conn.initiate_connection()
    conn.update_settings({4: BIG_WINDOW})
    conn.increment_flow_control_window(BIG_WINDOW - 65535)
    return conn


def library_pair(name):
    events = importlib.import_module(name + ".events")
    client, server = library_connection(name, True), library_connection(name, False)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    return client, server, events


def send_batch(client):
    for _ in range(BATCH):
        client.send_headers(client.get_next_available_stream_id(), REQUEST_HEADERS,
                            end_stream=True)
    return client.data_to_send()


def run_library(name, requests, body):
    """Server side answers with the library's own API: what a codec on it costs at least."""
    client, server, events = library_pair(name)
    request_received, data_received = events.RequestReceived, events.DataReceived
    length = str(len(body)).encode()
    response = [(b":status", b"200"), (b"content-length", length)] + RESPONSE_HEADERS
    cpu = 0.0
    for _ in range(requests // BATCH):
        wire = send_batch(client)
        start = time.process_time()
        for event in server.receive_data(wire):
            if event.__class__ is request_received:
                server.send_headers(event.stream_id, response)
                frame_size = server.max_outbound_frame_size
                for offset in range(0, len(body), frame_size):
                    last = offset + frame_size >= len(body)
                    server.send_data(event.stream_id, body[offset:offset + frame_size],
                                     end_stream=last)
        answer = server.data_to_send()
        cpu += time.process_time() - start
        for event in client.receive_data(answer):
            if event.__class__ is data_received:
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        wire = client.data_to_send()
        start = time.process_time()
        server.receive_data(wire)
        cpu += time.process_time() - start
    return cpu / requests * 1e6


def run_codec(requests, body):
    """hotproxy's ServerCodec (on whichever library codec.py imports) against a raw h2 client."""
    from hotproxy.http.http2.codec import ServerCodec
    from hotproxy.http.http2.events import RequestHeaders
    from hotproxy.http.http2.options import Http2Options
    from hotproxy.http.http2.limits import Http2Stats
    events = importlib.import_module("h2.events")
    client = library_connection("h2", True)
    server = ServerCodec(Http2Options(), Http2Stats())
    client.receive_data(server.data_to_send())
    server.receive(client.data_to_send())
    client.receive_data(server.data_to_send())
    length = str(len(body)).encode()
    headers = [(b"content-length", length)] + RESPONSE_HEADERS
    cpu = 0.0
    for _ in range(requests // BATCH):
        wire = send_batch(client)
        start = time.process_time()
        for event in server.receive(wire):
            if event.__class__ is RequestHeaders:
                server.send_headers(event.stream_id, 200, headers, False)
                server.send_data(event.stream_id, body, True)
        answer = server.data_to_send()
        cpu += time.process_time() - start
        for event in client.receive_data(answer):
            if event.__class__ is events.DataReceived:
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        wire = client.data_to_send()
        start = time.process_time()
        server.receive(wire)
        server.data_to_send()
        cpu += time.process_time() - start
    return cpu / requests * 1e6


def run_client_codec(requests, body):
    """hotproxy's ClientCodec against a jh2 server answering every request."""
    from hotproxy.http.http2.client_codec import ClientCodec
    from hotproxy.http.http2.events import ResponseData
    from hotproxy.http.http2.options import Http2Options
    from hotproxy.http.http2.limits import Http2Stats
    events = importlib.import_module("jh2.events")
    server = library_connection("jh2", False)
    client = ClientCodec(Http2Options(), Http2Stats())
    client.initiate()
    server.receive_data(client.data_to_send())
    client.receive(server.data_to_send())
    server.receive_data(client.data_to_send())
    response = [(b":status", b"200"), (b"content-length", str(len(body)).encode())]
    response += RESPONSE_HEADERS
    cpu = 0.0
    for _ in range(requests // BATCH):
        start = time.process_time()
        for _ in range(BATCH):
            client.send_request(REQUEST_HEADERS, True)
        wire = client.data_to_send()
        cpu += time.process_time() - start
        for event in server.receive_data(wire):
            if event.__class__ is events.RequestReceived:
                server.send_headers(event.stream_id, response)
                frame_size = server.max_outbound_frame_size
                for offset in range(0, len(body), frame_size):
                    server.send_data(event.stream_id, body[offset:offset + frame_size],
                                     end_stream=offset + frame_size >= len(body))
        answer = server.data_to_send()
        start = time.process_time()
        for event in client.receive(answer):
            if event.__class__ is ResponseData:
                client.acknowledge(event.stream_id, event.flow_length)
        wire = client.data_to_send()
        cpu += time.process_time() - start
        server.receive_data(wire)
    return cpu / requests * 1e6


def main():
    args = [arg for arg in sys.argv[1:] if arg != "--client"]
    requests = int(args[0]) if args else 5000
    cases = [("12 B", b"x" * 12, requests), ("64 KiB", b"x" * 65536, requests // 5)]
    runners = {"h2": lambda n, b: run_library("h2", n, b),
               "jh2": lambda n, b: run_library("jh2", n, b), "ServerCodec": run_codec}
    if "--client" in sys.argv[1:]:
        runners = {"ClientCodec": run_client_codec}
    for label, body, count in cases:
        samples = {name: [] for name in runners}
        for _ in range(REPS):
            for name, runner in runners.items():
                samples[name].append(runner(count, body))
        figures = "  ".join(f"{name} {statistics.median(values):7.1f}"
                            for name, values in samples.items())
        side = "client" if "ClientCodec" in runners else "server"
        print(f"{label:>7} body, {count} requests, µs CPU/request ({side} side): {figures}")


if __name__ == "__main__":
    main()
