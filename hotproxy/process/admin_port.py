"""The arbiter's admin server (admin/server.py) on the address the serving config names: bound
before anything else of a reload changes, so that a failure leaves the running server as it
was; replaced when the address changes; lent to the next epoch during a hot restart (``stop``)
and served again if that epoch goes away before taking over. It runs on the arbiter's hub, on
its own socket that no child inherits, over the AdminView (process/admin_view.py).
"""
from __future__ import annotations

import logging

from ..accesslog.loggers import AccessLoggers
from ..admin.endpoints import build_endpoints
from ..admin.server import AdminRouter, AdminServer
from .sockets import bind_listener

log = logging.getLogger("hotproxy.arbiter")


class AdminPort:
    def __init__(self, view, log_sink, address_path):
        """``log_sink``: where the admin access logs go (the flusher's socket);
        ``address_path``: --admin-address-path, or None."""
        self.view = view
        self.server = None           # AdminServer, when the config has an admin address
        self.key = None              # its (address, port) as configured
        self._log_sink = log_sink
        self._address_path = address_path

    def serve(self, bootstrap):
        """Bind the admin address ``bootstrap`` names (before anything else changes, so that a
        failure leaves the running admin server as it was), replacing the running server when
        the address changed. Raises OSError."""
        admin = bootstrap.admin
        key = (admin.address.address, admin.address.port) if admin is not None else None
        access_logs = (AccessLoggers(admin.access_log, self._log_sink, tcp=False, where="admin.")
                       if admin is not None else None)
        if key == self.key:
            if self.server is not None:
                self.server.access_logs = access_logs  # the address stays; its logs may change
            return
        server = None
        if admin is not None:
            try:
                sock = bind_listener(admin.address)
            except OSError as exc:
                raise OSError(exc.errno, f"admin: cannot bind {key[0]}:{key[1]}: {exc.strerror or exc}") from None
            self._write_address(sock)
            router = AdminRouter()
            router.register(build_endpoints(self.view, router.help))
            server = AdminServer(sock, router, access_logs)
        if self.server is not None:
            self.server.stop()
        self.server, self.key = server, key
        if server is not None:
            server.start()
            log.info("admin listening on %s:%d", key[0], server.address[1])

    def serve_or_log(self, bootstrap):
        """``serve``, where a failure must not stop what goes on (a hot restart's hand-over)."""
        try:
            self.serve(bootstrap)
        except OSError as error:
            log.error("%s: serving without an admin interface", error)

    def stop(self):
        """No admin server any more (until ``serve``): shutdown, or lent to the next epoch."""
        if self.server is not None:
            self.server.stop()
        self.server, self.key = None, None

    def _write_address(self, sock):
        """--admin-address-path: where the admin interface listens, as Envoy writes it."""
        path = self._address_path
        if not path:
            return
        host, port = sock.getsockname()[:2]
        try:
            with open(path, "w") as out:
                out.write(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"--admin-address-path {path}: cannot write: {exc.strerror}") from None
