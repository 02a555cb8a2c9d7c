"""A gRPC authorization service (envoy.service.auth.v3.Authorization/Check) for the ext_authz
tests: grpcio's server in this test process, the xds-protos messages, a generic handler. It
records each CheckRequest and decides by the request's path:

- ``/deny…``: denied_response 401, headers ``x-reason: no-token`` (and an appended
  ``x-multi``), body ``denied by grpc``, status PERMISSION_DENIED;
- ``/slow…``: OK after a second;
- ``/abort…``: the call fails with gRPC status UNAVAILABLE;
- ``/error…``: a CheckResponse whose status is UNAVAILABLE, with an error_response;
- ``/unknown-status…``: a CheckResponse whose status is INVALID_ARGUMENT and nothing else;
- anything else: OK with headers for the upstream (``x-user`` set, ``x-multi`` appended),
  ``x-secret`` to remove, ``x-client-note`` for the client and dynamic metadata.
"""
import socket
import threading
import time
from concurrent import futures

import grpc
import h2.config
import h2.connection
import h2.events
from grpc_upstream import GRPC, frame
from harness import accept_each
from envoy.service.auth.v3 import external_auth_pb2 as auth
from google.protobuf import struct_pb2
from google.rpc import status_pb2

PERMISSION_DENIED, UNAVAILABLE, INVALID_ARGUMENT = 7, 14, 3


def _header(key, value, append=None):
    option = {"header": {"key": key, "value": value}}
    if append is not None:
        option["append_action"] = append
    return option


def decide(request):
    path = request.attributes.request.http.path
    if path.startswith("/slow"):
        time.sleep(1.0)
    return decision(path)


def decision(path):
    if path.startswith("/deny"):
        response = auth.CheckResponse(status=status_pb2.Status(code=PERMISSION_DENIED))
        denied = response.denied_response
        denied.status.code = 401
        denied.body = "denied by grpc"
        denied.headers.add(header={"key": "x-reason", "value": "no-token"})
        denied.headers.add(header={"key": "www-authenticate", "value": "Bearer"})
        return response
    if path.startswith("/error"):
        response = auth.CheckResponse(status=status_pb2.Status(code=UNAVAILABLE))
        response.error_response.status.code = 503
        response.error_response.body = "authz broke"
        return response
    if path.startswith("/unknown-status"):
        return auth.CheckResponse(status=status_pb2.Status(code=INVALID_ARGUMENT))
    response = auth.CheckResponse(status=status_pb2.Status(code=0))
    ok = response.ok_response
    ok.headers.add(header={"key": "x-user", "value": "alice"},
                   append_action="OVERWRITE_IF_EXISTS_OR_ADD")
    ok.headers.add(header={"key": "x-multi", "value": "from-authz"}, append={"value": True})
    ok.headers.add(header={"key": "x-only-if-there", "value": "new"},
                   append_action="OVERWRITE_IF_EXISTS")
    ok.headers.add(header={"key": "x-keep", "value": "authz"}, append_action="ADD_IF_ABSENT")
    ok.headers_to_remove.append("x-secret")
    ok.response_headers_to_add.add(header={"key": "x-client-note", "value": "checked"})
    response.dynamic_metadata.CopyFrom(struct_pb2.Struct(fields={
        "user": struct_pb2.Value(string_value="alice")}))
    return response


class AuthzServer:
    """``checks``: the CheckRequests received; ``port``; ``stop()``."""

    def __init__(self):
        self.checks = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.unary_unary_rpc_method_handler(
            self._check, request_deserializer=auth.CheckRequest.FromString,
            response_serializer=auth.CheckResponse.SerializeToString)
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "envoy.service.auth.v3.Authorization", {"Check": handler}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _check(self, request, context):
        with self.lock:
            self.checks.append((request, dict(context.invocation_metadata())))
        if request.attributes.request.http.path.startswith("/abort"):
            context.abort(grpc.StatusCode.UNAVAILABLE, "authz is down")
        return decide(request)

    def last(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.checks:
            assert time.monotonic() < deadline, "no check arrived"
            time.sleep(0.01)
        return self.checks[-1]

    def stop(self):
        self.server.stop(None)


class DeadlineBlindAuthz:
    """The same service on a bare HTTP/2 server that ignores the caller's ``grpc-timeout``: a
    ``/slow`` check is answered after a second whatever the deadline. grpcio's server answers
    DEADLINE_EXCEEDED at the deadline instead, which can reach a loaded proxy before its own
    timer fires, so the proxy sees a failed call rather than a timeout. ``port``; ``stop()``."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        accept_each(self.listener, self._serve)

    def stop(self):
        self.listener.close()

    def _serve(self, sock):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        lock = threading.Lock()
        bodies, given_up = {}, set()
        with sock:
            sock.sendall(conn.data_to_send())
            while data := sock.recv(65536):
                with lock:
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.RequestReceived):
                            bodies[event.stream_id] = b""
                        elif isinstance(event, h2.events.StreamReset):
                            given_up.add(event.stream_id)
                        elif isinstance(event, h2.events.DataReceived):
                            bodies[event.stream_id] += event.data
                            conn.acknowledge_received_data(event.flow_controlled_length,
                                                           event.stream_id)
                        if isinstance(event, h2.events.StreamEnded):
                            request = auth.CheckRequest.FromString(bodies.pop(event.stream_id)[5:])
                            threading.Thread(target=self._answer, daemon=True, args=(
                                sock, conn, lock, given_up, event.stream_id, request)).start()
                    sock.sendall(conn.data_to_send())

    @staticmethod
    def _answer(sock, conn, lock, given_up, stream_id, request):
        path = request.attributes.request.http.path
        if path.startswith("/slow"):
            time.sleep(1.0)
        message = decision(path).SerializeToString()
        with lock:
            if stream_id in given_up:   # the proxy's timer ended the check first
                return
            try:
                conn.send_headers(stream_id, GRPC)
                conn.send_data(stream_id, frame(message))
                conn.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)
                sock.sendall(conn.data_to_send())
            except OSError:
                pass    # the proxy closed the connection
