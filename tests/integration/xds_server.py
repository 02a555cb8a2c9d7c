"""An xDS management server for the test suite, run as its own process so that a test can kill
it and start it again (on the same ports) while the data plane under test stays up:

    python tests/integration/xds_server.py --grpc-port N --control-port M
        [--state FILE] [--ports-file FILE]

Ports may be 0 (ephemeral); the chosen ones are printed (``xds_server serving grpc_port=N
control_port=M``) and, with --ports-file, written there as JSON once both accept. With --state,
every set is saved to FILE and served again after a restart.

The gRPC port (insecure) serves ADS (StreamAggregatedResources, DeltaAggregatedResources) and
LDS, CDS, EDS, RDS, SDS, RTDS (Stream<Type>, Delta<Type>). The control port is HTTP/1.1 JSON:

    PUT|POST /resources/<listeners|clusters|endpoints|routes|secrets|runtime>
             {"version": optional, "resources": [Envoy-shaped dicts]}  -> {"version": ...}
    GET /requests -> every request received, in order; DELETE /requests clears them
    GET /state    -> ports, pid, per type its version and resources, the open streams
    GET /health   -> {"ok": true, ...}
    POST /v3/discovery:<type>  Envoy's REST config source (DiscoveryRequest JSON in,
                               DiscoveryResponse JSON out; 304 when up to date)

xds_control.XdsServer starts and drives it; xds_server_state.py has the protocol's rules.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
import traceback
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import grpc
from envoy.service.cluster.v3 import cds_pb2_grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from envoy.service.endpoint.v3 import eds_pb2_grpc
from envoy.service.listener.v3 import lds_pb2_grpc
from envoy.service.route.v3 import rds_pb2_grpc
from envoy.service.runtime.v3 import rtds_pb2_grpc
from envoy.service.secret.v3 import sds_pb2_grpc
from google.protobuf import json_format

from xds_resources import BY_SHORT, Store
from xds_server_state import EDS, DeltaStream, Nonces, SotwStream, rest_exchange, warming_endpoints

# (generated module, service, the methods' suffix, the one type a per-type service serves)
SERVICES = [
    (ads_pb2_grpc, "envoy.service.discovery.v3.AggregatedDiscoveryService", "AggregatedResources", None),
    (lds_pb2_grpc, "envoy.service.listener.v3.ListenerDiscoveryService", "Listeners", "listeners"),
    (cds_pb2_grpc, "envoy.service.cluster.v3.ClusterDiscoveryService", "Clusters", "clusters"),
    (eds_pb2_grpc, "envoy.service.endpoint.v3.EndpointDiscoveryService", "Endpoints", "endpoints"),
    (rds_pb2_grpc, "envoy.service.route.v3.RouteDiscoveryService", "Routes", "routes"),
    (sds_pb2_grpc, "envoy.service.secret.v3.SecretDiscoveryService", "Secrets", "secrets"),
    (rtds_pb2_grpc, "envoy.service.runtime.v3.RuntimeDiscoveryService", "Runtime", "runtime"),
]
_CLOSED = object()


class XdsState:
    """Everything the server holds, behind one lock: the store, the open streams (each with the
    queue its gRPC call sends from) and the record of requests. Responses are queued under the
    lock, so that a stream's responses leave in the order they were decided."""

    def __init__(self, state_path=None):
        self.lock = threading.Lock()
        self.store = Store(state_path)
        self.nonces = Nonces()
        self.streams = {}           # stream -> its outbound queue
        self.requests = []

    def record(self, record):
        record["seq"] = len(self.requests) + 1
        self.requests.append(record)

    def open(self, stream):
        out = queue.Queue()
        with self.lock:
            self.streams[stream] = out
        return out

    def close(self, stream):
        with self.lock:
            self.streams.pop(stream, None)

    def on_request(self, stream, request):
        with self.lock:
            record, responses = stream.on_request(request)
            self.record(record)
            self._send(stream, responses)

    def set(self, short, resources, version=None):
        with self.lock:
            version = self.store.set(short, resources, version)
            url = BY_SHORT[short].type_url
            for stream in list(self.streams):
                self._send(stream, stream.on_set(url))
            return version

    def _send(self, stream, responses):
        """Queue ``responses`` on ``stream``; after a delta CDS response, the endpoints of its
        EDS clusters to the node's delta streams (warming_endpoints says why)."""
        if stream not in self.streams:     # its call ended meanwhile
            return
        for response in responses:
            self.streams[stream].put(response)
            names = warming_endpoints(response)
            if not names:
                continue
            for other in self.streams:
                if isinstance(other, DeltaStream) and other.node == stream.node:
                    for resent in other.resend(EDS, names):
                        self.streams[other].put(resent)

    def rest(self, short, request, service):
        with self.lock:
            record, status, response = rest_exchange(self.store, request, BY_SHORT[short].type_url, service)
            self.record(record)
            return status, response

    def describe(self):
        with self.lock:
            return {"types": self.store.describe(),
                    "streams": [{"id": s.id, "kind": s.kind, "service": s.service, "node": s.node,
                                 "subscriptions": s.subscriptions()} for s in self.streams]}


def _serve_stream(state, stream, request_iterator, context):
    """Run one xDS call: a thread reads requests (a client may send nothing for minutes while
    pushes must still go out), this generator sends what the stream's queue receives, until the
    client closes its side or the call ends."""
    out = state.open(stream)

    def read():
        try:
            for request in request_iterator:
                state.on_request(stream, request)
        except Exception:
            if context.is_active():         # not the call's end: a fault here, for the log
                traceback.print_exc()
        finally:
            out.put(_CLOSED)

    threading.Thread(target=read, daemon=True, name=f"xds-read-{stream.id}").start()
    context.add_callback(lambda: out.put(_CLOSED))
    try:
        while (item := out.get()) is not _CLOSED:
            yield item
    finally:
        state.close(stream)


def add_services(server, state):
    """Register ADS and the six per-type services, state of the world and delta."""
    for module, service, suffix, only in SERVICES:
        base = service.rsplit(".", 1)[1]
        servicer = getattr(module, f"{base}Servicer")()
        only_url = BY_SHORT[only].type_url if only else None
        for prefix, kind in (("Stream", SotwStream), ("Delta", DeltaStream)):
            method = f"{service}/{prefix}{suffix}"

            def handler(request_iterator, context, kind=kind, method=method, only_url=only_url):
                stream = kind(state.store, state.nonces, method, only_url)
                return _serve_stream(state, stream, request_iterator, context)

            setattr(servicer, f"{prefix}{suffix}", handler)
        getattr(module, f"add_{base}Servicer_to_server")(servicer, server)


class ControlHandler(BaseHTTPRequestHandler):
    """The control API and the REST xDS endpoints (see the module's docstring)."""

    protocol_version = "HTTP/1.1"
    server_version = "xds-control"

    def log_message(self, *args):
        pass

    def _reply(self, status, body=None, content_type="application/json"):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 304:
            self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        state, path = self.server.state, urlsplit(self.path).path
        if path == "/health":
            return self._reply(200, {"ok": True, **self.server.ports, "pid": os.getpid()})
        if path == "/requests":
            with state.lock:
                return self._reply(200, list(state.requests))
        if path == "/state":
            return self._reply(200, {**self.server.ports, "pid": os.getpid(), **state.describe()})
        return self._reply(404, {"error": f"no {path}"})

    def do_DELETE(self):
        if urlsplit(self.path).path != "/requests":
            return self._reply(404, {"error": "only /requests can be deleted"})
        with self.server.state.lock:
            self.server.state.requests.clear()
        return self._reply(200, {"ok": True})

    def do_PUT(self):
        path = urlsplit(self.path).path
        if path.startswith("/v3/discovery:"):
            return self._rest(path)
        short = path.removeprefix("/resources/")
        if not path.startswith("/resources/") or short not in BY_SHORT:
            return self._reply(404, {"error": f"no {path}; /resources/<{'|'.join(BY_SHORT)}>"})
        try:
            body = json.loads(self._body() or b"{}")
            resources = body.get("resources", [])
            if not isinstance(resources, list):
                raise ValueError("resources must be a list")
            version = body.get("version")
            version = self.server.state.set(short, resources, None if version is None else str(version))
        except ValueError as exc:
            return self._reply(400, {"error": str(exc)})
        return self._reply(200, {"version": version, "type_url": BY_SHORT[short].type_url})

    do_POST = do_PUT

    def _rest(self, path):
        short = path.removeprefix("/v3/discovery:")
        if short not in BY_SHORT:
            return self._reply(404, {"error": f"no {path}"})
        try:
            request = json_format.Parse(self._body() or b"{}", discovery_pb2.DiscoveryRequest(),
                                        ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            return self._reply(400, {"error": f"cannot parse the DiscoveryRequest: {exc}"})
        status, response = self.server.state.rest(short, request, path)
        if response is None:
            return self._reply(status, None if status == 304 else {"error": f"no {short} set"})
        text = json_format.MessageToJson(response, preserving_proto_field_name=True)
        return self._reply(status, text.encode())


def _bind_grpc(server, port, deadline):
    """The gRPC port; a fixed one (a restart on the port of a killed server) is retried for a
    moment, until the kernel lets go of it."""
    while True:
        try:
            bound = server.add_insecure_port(f"127.0.0.1:{port}")
            if bound:
                return bound
        except RuntimeError:
            pass
        if not port or time.monotonic() > deadline:
            raise SystemExit(f"xds_server: cannot bind the gRPC port {port}")
        time.sleep(0.05)


def _bind_http(port, deadline):
    while True:
        try:
            return ThreadingHTTPServer(("127.0.0.1", port), ControlHandler)
        except OSError:
            if not port or time.monotonic() > deadline:
                raise SystemExit(f"xds_server: cannot bind the control port {port}") from None
            time.sleep(0.05)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--state", help="save every set here, and serve what it holds at start")
    parser.add_argument("--ports-file", help="write {grpc_port, control_port, pid} here when serving")
    args = parser.parse_args(argv)

    # SIGTERM and SIGINT are taken by sigwait below; blocked first, so that no thread started
    # from here on (grpc's, the HTTP server's) is handed one.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    state = XdsState(args.state)
    deadline = time.monotonic() + 5
    # so_reuseport off: with it, a second server could bind the same port and share its calls.
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=64),
                              options=[("grpc.so_reuseport", 0)])
    add_services(grpc_server, state)
    grpc_port = _bind_grpc(grpc_server, args.grpc_port, deadline)
    http_server = _bind_http(args.control_port, deadline)
    http_server.daemon_threads = True
    http_server.state = state
    http_server.ports = {"grpc_port": grpc_port, "control_port": http_server.server_address[1]}
    grpc_server.start()
    threading.Thread(target=http_server.serve_forever, daemon=True).start()

    if args.ports_file:
        tmp = f"{args.ports_file}.tmp"
        with open(tmp, "w") as f:
            json.dump({**http_server.ports, "pid": os.getpid()}, f)
        os.replace(tmp, args.ports_file)
    print("xds_server serving " + " ".join(f"{k}={v}" for k, v in http_server.ports.items()), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    http_server.shutdown()
    grpc_server.stop(0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
