"""A downstream connection's addresses as header formatters (%DOWNSTREAM_REMOTE_ADDRESS% …), RBAC
and the access logs read them, for HTTP/1.1 and HTTP/2 connections alike."""
from __future__ import annotations

from ..sockio import address_label


class ConnectionAddresses:
    """Mixed into a connection that has ``sock``, ``remote_ip``, ``remote_port`` and a
    ``_local_address`` cache (None until first read)."""

    @property
    def remote_address(self):
        return address_label((self.remote_ip, self.remote_port))

    @property
    def local_address(self):
        if self._local_address is None:
            self._local_address = address_label(self.sock.getsockname())
        return self._local_address

    @property
    def local_ip(self):
        return self.sock.getsockname()[0]
