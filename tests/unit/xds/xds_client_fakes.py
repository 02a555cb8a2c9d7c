"""What the xDS client tests talk to: a scriptable gRPC control plane (grpcio, in this process,
on an ephemeral port) that records each request and sends what a test tells it to, and builders
for resources and responses."""
from __future__ import annotations

import queue
import threading
from concurrent import futures

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from hotproxy.xds import type_urls

_END = object()
WAIT = 5.0


def packed(message):
    value = any_pb2.Any()
    value.Pack(message)
    return value


def listener(name: str, port: int = 10000):
    message = listener_pb2.Listener(name=name)
    message.address.socket_address.address = "127.0.0.1"
    message.address.socket_address.port_value = port
    return message


def cluster(name: str, timeout_s: int = 1):
    message = cluster_pb2.Cluster(name=name)
    message.connect_timeout.seconds = timeout_s
    return message


def assignment(name: str):
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=name)


def sotw_response(type_url, version, nonce, *messages):
    return discovery_pb2.DiscoveryResponse(type_url=type_url, version_info=version, nonce=nonce,
                                           resources=[packed(m) for m in messages])


def delta_response(type_url, nonce, resources=(), removed=(), system_version=""):
    """``resources``: (name, version, message) triples."""
    return discovery_pb2.DeltaDiscoveryResponse(
        type_url=type_url, nonce=nonce, system_version_info=system_version,
        removed_resources=list(removed),
        resources=[discovery_pb2.Resource(name=n, version=v, resource=packed(m))
                   for n, v, m in resources])


class _Stream:
    def __init__(self, method):
        self.method = method
        self.outgoing = queue.Queue()

    def send(self, response):
        self.outgoing.put(response)

    def close(self):
        self.outgoing.put(_END)


class FakeControlPlane:
    """Serves every SotW and delta xDS method (ADS and per type). Each request is recorded as
    (method, request) in ``requests``; ``send`` answers on the newest stream."""

    def __init__(self, port: int = 0):
        self.requests = queue.Queue()
        self.streams = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handlers = {}
        methods = [type_urls.ads_method(False), type_urls.ads_method(True)]
        for rtype in type_urls.BY_TYPE_URL.values():
            methods.append(rtype.grpc_method(True))
            if rtype.sotw_method:
                methods.append(rtype.grpc_method(False))
        for method in methods:
            delta = "/Delta" in method
            service, _, name = method[1:].rpartition("/")
            request_cls = (discovery_pb2.DeltaDiscoveryRequest if delta
                           else discovery_pb2.DiscoveryRequest)
            response_cls = (discovery_pb2.DeltaDiscoveryResponse if delta
                            else discovery_pb2.DiscoveryResponse)
            handlers.setdefault(service, {})[name] = grpc.stream_stream_rpc_method_handler(
                self._handler(method), request_deserializer=request_cls.FromString,
                response_serializer=response_cls.SerializeToString)
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(s, h) for s, h in handlers.items()])
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.server.start()

    def _handler(self, method):
        def handle(request_iterator, context):
            stream = _Stream(method)
            self.streams.append(stream)

            def read():
                try:
                    for request in request_iterator:
                        self.requests.put((method, request))
                except grpc.RpcError:
                    pass
                stream.close()

            threading.Thread(target=read, daemon=True).start()
            while (response := stream.outgoing.get()) is not _END:
                yield response
        return handle

    def next_request(self, timeout: float = WAIT):
        """The next (method, request); fails the test after ``timeout``."""
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the control plane received no request") from None

    def no_request(self, wait: float = 0.3) -> bool:
        try:
            self.requests.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def send(self, response):
        self.streams[-1].send(response)

    def stop(self):
        for stream in self.streams:
            stream.close()
        self.server.stop(0).wait()


class Recorder:
    """on_update and on_event for a client under test: keeps the updates and events, answers
    updates with ``verdict(update)`` (None: accept)."""

    def __init__(self, verdict=lambda update: None):
        self.verdict = verdict
        self.updates = queue.Queue()
        self.events = []
        self._changed = threading.Condition()

    def on_update(self, update):
        self.updates.put(update)
        return self.verdict(update)

    def on_event(self, event):
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def next_update(self, timeout: float = WAIT):
        try:
            return self.updates.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no update came") from None

    def wait_event(self, predicate, timeout: float = WAIT) -> dict:
        """The first event so far or to come that ``predicate`` accepts."""
        with self._changed:
            event = self._changed.wait_for(
                lambda: next((e for e in self.events if predicate(e)), None), timeout)
            if event is None:
                raise AssertionError(f"no such event among {self.events}")
            return event

    def wait_count(self, name: str, count: int, timeout: float = WAIT):
        """Waits for ``count`` events called ``name`` in all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.named(name)) >= count, timeout):
                raise AssertionError(f"fewer than {count} {name} events in {self.events}")

    def named(self, name: str) -> list[dict]:
        with self._changed:
            return [e for e in self.events if e["event"] == name]
