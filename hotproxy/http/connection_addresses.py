"""A downstream connection's addresses as header formatters (%DOWNSTREAM_REMOTE_ADDRESS% …), RBAC
and the access logs read them, for HTTP/1.1 and HTTP/2 connections alike."""
from __future__ import annotations

from ..sockio import address_label
from ..upstream.restored_destinations import restored


class ConnectionAddresses:
    """Mixed into a connection that has ``sock``, ``remote_ip``, ``remote_port`` and a
    ``_local_address`` cache (None until first read)."""

    #: the socket's own local address when a listener filter restored another one, else None
    direct_local_address = None

    @property
    def remote_address(self):
        return address_label((self.remote_ip, self.remote_port))

    @property
    def local_address(self):
        """What the client connected to: as Envoy's connection local address, the destination
        a listener filter restored (original_dst before an iptables REDIRECT, proxy_protocol's
        header) when there is one, else the socket's own address."""
        if self._local_address is None:
            direct = address_label(self.sock.getsockname())
            destination = restored(self.sock)
            self._local_address = address_label(destination) if destination else direct
            if destination:
                self.direct_local_address = direct
        return self._local_address

    @property
    def local_ip(self):
        return self.local_address.rpartition(":")[0].strip("[]")
