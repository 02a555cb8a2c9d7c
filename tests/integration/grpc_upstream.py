"""A gRPC-shaped HTTP/2 upstream for the gRPC filter tests (the h2 library on plain sockets, in
threads) that records what reaches it: each request's headers and body. Answers by path:

- ``/test.Echo/Say``: 200 application/grpc, the request body back, trailers grpc-status 0 and
  ``x-trailer: t``;
- ``/test.Echo/Fail``: trailers-only, grpc-status 5 and grpc-message in the response headers;
- ``/test.Echo/Error``: the request body back, trailers grpc-status 13 and grpc-message ``bad``;
- ``/plain``: 200 text/plain ``hi``, no trailers;
- ``/unavailable``: 503 text/plain ``down``;
- ``/respond?status=S&type=T&size=N``: status S, content-type T, N bytes of ``x``, no trailers.
"""
import contextlib
import socket
import struct
import threading
import urllib.parse

import h2.config
import h2.connection
import h2.events

GRPC = [(":status", "200"), ("content-type", "application/grpc")]


def frame(message, flags=0):
    """One gRPC length-prefixed message."""
    return struct.pack(">BI", flags, len(message)) + message


class GrpcUpstream:
    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.seen = []          # (headers dict of str, body bytes)
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.listener.close()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, validate_inbound_headers=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        requests = {}
        try:
            while data := sock.recv(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        requests[event.stream_id] = [
                            [(k.decode(), v.decode()) for k, v in event.headers], b""]
                    elif isinstance(event, h2.events.DataReceived):
                        requests[event.stream_id][1] += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if isinstance(event, h2.events.StreamEnded):
                        head, body = requests.pop(event.stream_id)
                        self.seen.append((head, body))
                        self._answer(conn, event.stream_id, dict(head)[":path"], body)
                sock.sendall(conn.data_to_send())
        except OSError:
            pass
        finally:
            sock.close()

    @staticmethod
    def _answer(conn, stream_id, path, body):
        if path == "/test.Echo/Fail":
            conn.send_headers(stream_id, GRPC + [("grpc-status", "5"), ("grpc-message", "not found")],
                              end_stream=True)
        elif path in ("/test.Echo/Say", "/test.Echo/Error"):
            conn.send_headers(stream_id, GRPC)
            if body:
                conn.send_data(stream_id, body)
            trailers = ([("grpc-status", "0"), ("x-trailer", "t")] if path.endswith("Say")
                        else [("grpc-status", "13"), ("grpc-message", "bad")])
            conn.send_headers(stream_id, trailers, end_stream=True)
        elif path.startswith("/respond?"):
            query = dict(urllib.parse.parse_qsl(path.split("?", 1)[1]))
            size = int(query.get("size", "0"))
            conn.send_headers(stream_id, [(":status", query["status"]), ("content-type", query["type"])],
                              end_stream=not size)
            if size:
                conn.send_data(stream_id, b"x" * size, end_stream=True)
        elif path == "/unavailable":
            conn.send_headers(stream_id, [(":status", "503"), ("content-type", "text/plain"),
                                          ("content-length", "4")])
            conn.send_data(stream_id, b"down", end_stream=True)
        else:
            conn.send_headers(stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                          ("content-length", "2")])
            conn.send_data(stream_id, b"hi", end_stream=True)


@contextlib.contextmanager
def grpcio_echo_server():
    """grpcio's own server (in this test process, never in hotproxy's), method ``test.Echo/Say``
    on raw bytes: ``hello `` and the request, a trailer ``x-trailer: t``; a request ``fail`` is
    NOT_FOUND ``no such thing``. Yields its port."""
    import grpc
    from concurrent import futures

    def say(request, context):
        if request == b"fail":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        context.set_trailing_metadata((("x-trailer", "t"),))
        return b"hello " + request

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(None)
