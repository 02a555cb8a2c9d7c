"""A service for the harness's hosts: a gevent WSGI server that answers every path with JSON of
what it saw (its own name, the peer address, the local address, method, path, headers), so a test
can tell which host served a request and from where the connection came.

``python echo_service.py --name a1 --port 8080 [--port 9090]``. ``/healthz`` answers 200 "ok"
(what the deploy/ health checks ask); ``/status/N`` answers status N.
"""
from __future__ import annotations

import argparse
import json

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402


def application(name: str):
    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        status = 200
        if path.startswith("/status/") and path[8:].isdigit():
            status = int(path[8:])
        headers = {key[5:].lower().replace("_", "-"): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        body = json.dumps({
            "service": name,
            "peer": environ.get("REMOTE_ADDR"),
            "local": f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}",
            "method": environ.get("REQUEST_METHOD"),
            "path": path,
            "headers": headers,
        }).encode()
        start_response(f"{status} X", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(body)))])
        return [body]
    return serve


class _PeerAddress(WSGIHandler):
    """REMOTE_ADDR is the socket's peer, whatever x-forwarded-for says."""
    def get_environ(self):
        environ = super().get_environ()
        environ["REMOTE_ADDR"] = self.client_address[0] if isinstance(self.client_address, tuple) \
            else str(self.client_address)
        environ["SERVER_NAME"], environ["SERVER_PORT"] = (str(part) for part in
                                                          self.socket.getsockname()[:2])
        return environ


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, action="append", required=True)
    parser.add_argument("--address", default="0.0.0.0")
    args = parser.parse_args(argv)
    servers = [WSGIServer((args.address, port), application(args.name), handler_class=_PeerAddress,
                          log=None) for port in args.port]
    for server in servers:
        server.start()
    print(f"echo service {args.name} on {args.port}", flush=True)
    gevent.wait()


if __name__ == "__main__":
    main()
