"""One xDS gRPC stream (SotW or delta; ADS or a type's own service) on a thread of its own,
opened again after each end with jittered back-off, as Envoy's GrpcStream.

Each attempt gets a new channel, so that the back-off here, not grpcio's own reconnection, sets
when the next one happens; its requests flow through an _Outbox the subscriptions put into.
Responses are read on the stream's thread, which hands each to the subscription of its type
(on_update runs there): on an ADS stream the types are judged one at a time, in the order the
server sent them, which is the ordering ADS exists for.

"Connected" (control_plane.connected_state) is the stream's first request having gone out:
grpcio shows no stream's establishment, but it asks for the next request only once the last is
sent, which a call does on a connected transport (and a control plane may well send nothing for
a while, so the first response is no sign to wait for).
"""
from __future__ import annotations

import queue
import random
import threading

import grpc
from envoy.service.discovery.v3 import discovery_pb2

from .backoff import Backoff
from .source_thread import SourceThread

_CLOSED = object()


class _Outbox:
    """The requests of one stream attempt, drained by grpcio's request thread. The node goes on
    the first request of the stream, or on each unless set_node_on_first_message_only.
    ``on_first_sent`` runs once grpcio has sent the first."""

    def __init__(self, node, node_on_each: bool, on_first_sent):
        self._queue = queue.SimpleQueue()
        self._node = node
        self._node_on_each = node_on_each
        self._on_first_sent = on_first_sent

    def put(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(_CLOSED)

    def __iter__(self):
        first = True
        while (request := self._queue.get()) is not _CLOSED:
            if first or self._node_on_each:
                request.node.CopyFrom(self._node)
            yield request
            if first:
                first = False
                self._on_first_sent()


class _Connection:
    """The connected and disconnected events of one attempt: each at most once, in order,
    whichever thread (grpcio's request thread, the reader) sees them first."""

    def __init__(self, emit):
        self._emit = emit
        self._lock = threading.Lock()
        self._state = "connecting"

    def up(self):
        with self._lock:
            if self._state == "connecting":
                self._state = "up"
                self._emit("connected")

    def down(self, error: str):
        with self._lock:
            if self._state == "up":
                self._emit("disconnected", error=error)
            self._state = "down"


class GrpcStream(SourceThread):
    def __init__(self, source, method: str, node, callbacks, rng=random.random):
        super().__init__()
        self.source = source
        self._method = method
        self._node = node
        self._callbacks = callbacks
        self._backoff = Backoff(source.backoff_base_s, source.backoff_max_s, rng)
        if source.delta:
            self._request_cls = discovery_pb2.DeltaDiscoveryRequest
            self._response_cls = discovery_pb2.DeltaDiscoveryResponse
        else:
            self._request_cls = discovery_pb2.DiscoveryRequest
            self._response_cls = discovery_pb2.DiscoveryResponse
        self._lock = threading.Lock()       # guards the three below
        self._subs = {}                     # type URL → Subscription
        self._outbox = None                 # of the open stream
        self._call = None

    def add(self, sub):
        """Carries ``sub`` from now on; on an open stream, its first request goes at once."""
        with self._lock:
            self._subs[sub.type_url] = sub
            if self._outbox is not None:
                sub.attach(self._outbox)

    def stop(self, timeout: float = 5.0):
        """The open call is cancelled first: its thread waits on the server, not on the event."""
        self._stopped.set()
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()
        super().stop(timeout)

    def _run(self):
        while not self._stopped.is_set():
            error = self._attempt()
            if self._stopped.is_set():
                return
            delay = self._backoff.next()
            self._event("connection_failure", error=error, retry_in_s=round(delay, 3))
            self._stopped.wait(delay)

    def _attempt(self) -> str:
        """Opens the stream and reads it to its end; returns why it ended."""
        host, port = self.source.target_host, self.source.target_port
        target = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else \
            f"{host}:{port}"
        options = [("grpc.max_receive_message_length", -1)]
        if self.source.authority:
            options.append(("grpc.default_authority", self.source.authority))
        channel = grpc.insecure_channel(target, options=options)
        connection = _Connection(self._event)
        outbox = _Outbox(self._node, not self.source.set_node_on_first_message_only,
                         connection.up)
        error = "the server closed the stream"
        try:
            call = channel.stream_stream(
                self._method, request_serializer=self._request_cls.SerializeToString,
                response_deserializer=self._response_cls.FromString)(iter(outbox))
            with self._lock:
                self._call, self._outbox = call, outbox
                for sub in self._subs.values():
                    sub.attach(outbox)
            if self._stopped.is_set():      # stop() came before _call was set
                call.cancel()
            for response in call:
                connection.up()
                self._backoff.reset()
                self._dispatch(response)
        except grpc.RpcError as rpc_error:
            error = f"{rpc_error.code().name}: {rpc_error.details()}"
        finally:
            with self._lock:
                self._call = self._outbox = None
                for sub in self._subs.values():
                    sub.detach()
            outbox.close()
            channel.close()
            connection.down(error)
        return error

    def _dispatch(self, response):
        with self._lock:
            sub = self._subs.get(response.type_url)
        if sub is None:
            self._event("unexpected_type", type_url=response.type_url)
        else:
            sub.handle(response)

    def _event(self, name: str, **fields):
        with self._lock:
            type_urls = sorted(self._subs)
        self._callbacks.event(event=name, source=self.source.describe(), type_urls=type_urls,
                              **fields)
