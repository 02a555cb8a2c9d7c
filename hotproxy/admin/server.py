"""The admin HTTP server, on the arbiter's hub: Envoy's admin paths, methods and formats.

Handlers are registered with the methods they answer. Mutating endpoints answer POST only: a GET
gets 405, as in Envoy, so that a crawler or a stray curl cannot fail health checks or stop the
proxy. An unknown path gets 404 with the list of endpoints.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import unquote

from gevent import socket
from gevent.pywsgi import WSGIServer

from .access_log import admin_request_info

log = logging.getLogger("hotproxy.admin")

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 503: "Service Unavailable"}


class Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, body, status=200, content_type="text/plain; charset=UTF-8", headers=()):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode()
        self.content_type = content_type
        self.headers = list(headers)


class Request:
    __slots__ = ("method", "path", "query")

    def __init__(self, method, path, query_string):
        self.method = method
        self.path = path
        self.query = query_parameters(query_string)


def query_parameters(query_string):
    """Every parameter with its first value, percent-decoded, a ``+`` kept as it is (Envoy's
    admin reads queries so: ``name_regex=a.+`` is a regex); a bare ``?usedonly`` is present
    with ""."""
    query = {}
    for pair in query_string.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            query.setdefault(unquote(key), unquote(value))
    return query


class Endpoint:
    __slots__ = ("path", "handler", "help", "mutates")

    def __init__(self, path, handler, help, mutates=False):
        self.path = path
        self.handler = handler
        self.help = help
        self.mutates = mutates


class AdminRouter:
    """Requests to endpoints, sans-IO."""

    def __init__(self):
        self.endpoints = {}

    def register(self, endpoints):
        self.endpoints.update((endpoint.path, endpoint) for endpoint in endpoints)

    def handle(self, request):
        """The Response for ``request`` (sans-IO apart from what the handlers read)."""
        endpoint = self.endpoints.get(request.path)
        if endpoint is None:
            return Response("invalid path. " + self.help(), 404)
        if endpoint.mutates and request.method != "POST":
            return Response(f"Method {request.method} not allowed, POST required.", 405)
        try:
            return endpoint.handler(request)
        except Exception:  # a bug in one endpoint must not take the admin server down
            log.exception("admin %s failed", request.path)
            return Response("internal error\n", 500)

    def help(self):
        lines = [f"  {path}{' (POST)' if endpoint.mutates else ''}: {endpoint.help}"
                 for path, endpoint in sorted(self.endpoints.items())]
        return "admin commands are:\n" + "\n".join(lines) + "\n"


class AdminServer:
    """An AdminRouter served over HTTP/1.1 on the arbiter's hub."""

    def __init__(self, listen_socket, router, access_logs=None):
        self.router = router
        self.access_logs = access_logs  # AccessLoggers, or None
        if not isinstance(listen_socket, socket.socket):  # a stdlib socket would block the hub
            listen_socket = socket.socket(fileno=listen_socket.detach())
        self._server = WSGIServer(listen_socket, self._app, log=None, error_log=log)

    @property
    def address(self):
        return self._server.address

    def start(self):
        self._server.start()

    def stop(self):
        self._server.stop(timeout=1)

    def _app(self, environ, start_response):
        started, started_monotonic = time.time(), time.monotonic()
        request = Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"),
                          environ.get("QUERY_STRING", ""))
        response = self.router.handle(request)
        if self.access_logs:
            self.access_logs.log(admin_request_info(environ, started, started_monotonic,
                                                    response.status, len(response.body)))
        headers = [("Content-Type", response.content_type),
                   ("Cache-Control", "no-cache, max-age=0"),
                   ("X-Content-Type-Options", "nosniff"),
                   ("Content-Length", str(len(response.body))), *response.headers]
        start_response(f"{response.status} {_REASONS.get(response.status, '')}", headers)
        return [response.body] if request.method != "HEAD" else []
