"""The TLS sockets that carry a connection's bytes, chosen per context by ``configure``: this
module's TlsDataSocket by default (downstream and upstream), bio_socket.BioTlsSocket downstream
with ``HOTPROXY_TLS_DATA_PATH=bio``. TlsDataSocket is gevent's ``SSLSocket`` with a shorter path
for ``recv``, ``recv_into`` and ``send``, the three calls of the request path, and OpenSSL's
read-ahead on downstream connections.

What it saves per keep-alive request (bench/tls_syscalls.py, bench/callgrind_tls.py,
docs/benchmarks.md):

- Read-ahead: without it OpenSSL reads a record's 5-byte header, then its body, two ``read`` system
  calls per record; with it, one read takes what the socket has. The bytes of a next record may then
  sit in OpenSSL while the descriptor shows nothing to read, so nothing may wait for the descriptor
  before reading a TLS socket: ``recv`` asks OpenSSL first and waits only when it wants more (as
  gevent's does, and as http/ and router/ already do for TLS sockets).
- gevent's ``recv`` goes through ``_checkClosed``, ``read`` and a loop before it reaches OpenSSL;
  here the call reaches ``_sslobj.read`` directly.

Every other case (flags, a zero length, an unwrapped or closed socket) is gevent's own code.
"""
from __future__ import annotations

import os
from ssl import SSL_ERROR_EOF, SSLError, SSLWantReadError, SSLWantWriteError

from gevent.socket import timeout_default
from gevent.ssl import SSLSocket

from . import openssl
from .bio_socket import BioTlsSocket

# Raised when a wait outlives the socket's timeout; shared, as gevent shares its own.
_READ_TIMEOUT = SSLError("The read operation timed out")
_WRITE_TIMEOUT = SSLError("The write operation timed out")


class TlsDataSocket(SSLSocket):
    def recv(self, buflen=1024, flags=0):
        sslobj = self._sslobj
        if sslobj is None or flags or buflen <= 0:
            return SSLSocket.recv(self, buflen, flags)
        return self._read(buflen, None)

    def recv_into(self, buffer, nbytes=None, flags=0):
        sslobj = self._sslobj
        if sslobj is None or flags or buffer is None:
            return SSLSocket.recv_into(self, buffer, nbytes, flags)
        if not nbytes:
            nbytes = (len(buffer) if type(buffer) is bytearray else memoryview(buffer).nbytes) or 1024
        return self._read(nbytes, buffer)

    def send(self, data, flags=0, timeout=timeout_default):
        sslobj = self._sslobj
        if sslobj is None or flags:
            return SSLSocket.send(self, data, flags, timeout)
        while True:
            try:
                return sslobj.write(data)
            except SSLWantWriteError:
                if self.timeout == 0.0:
                    return 0
                self._wait(self._write_event, timeout_exc=_WRITE_TIMEOUT)
            except SSLWantReadError:
                if self.timeout == 0.0:
                    return 0
                self._wait(self._read_event, timeout_exc=_WRITE_TIMEOUT)
            sslobj = self._sslobj
            if sslobj is None:
                raise ValueError("Write on closed or unwrapped SSL socket.")

    def _read(self, nbytes, buffer):
        while True:
            sslobj = self._sslobj
            if sslobj is None:
                raise ValueError("Read on closed or unwrapped SSL socket.")
            try:
                if buffer is None:
                    return sslobj.read(nbytes)
                return sslobj.read(nbytes, buffer)
            except SSLWantReadError:
                if self.timeout == 0.0:
                    raise
                self._wait(self._read_event, timeout_exc=_READ_TIMEOUT)
            except SSLWantWriteError:
                if self.timeout == 0.0:
                    raise
                self._wait(self._write_event, timeout_exc=_READ_TIMEOUT)
            except SSLError as error:
                if error.args[0] == SSL_ERROR_EOF and self.suppress_ragged_eofs:
                    return b"" if buffer is None else 0
                raise


#: ``HOTPROXY_TLS_DATA_PATH`` in hotproxy's environment chooses the downstream TLS socket: ``lean``
#: (the default: TlsDataSocket with read-ahead), ``bio`` (bio_socket.BioTlsSocket, OpenSSL on memory
#: buffers: a response's records in one ``send``, a handshake's flights in one write each, about
#: 13% less CPU per handshake and per 64 KiB response, but about 40 KB more held by every idle
#: connection that once carried a large body), ``gevent`` (gevent's own ``SSLSocket`` and
#: OpenSSL's defaults, upstream connections too). The figures are in docs/benchmarks.md ("TLS on
#: memory BIOs").
DATA_PATH_ENV = "HOTPROXY_TLS_DATA_PATH"
DEFAULT = "lean"


def mode() -> str:
    return os.environ.get(DATA_PATH_ENV, DEFAULT)


def enabled() -> bool:
    return mode() != "gevent"


def configure(context, server: bool) -> None:
    """Make ``context``'s TLS sockets hotproxy's: on a server's (downstream) connections the mode's,
    on a client's TlsDataSocket without read-ahead: the pool tells an idle connection the server
    closed from a readable descriptor, which bytes read ahead (or held in a memory buffer) would
    hide. Read-ahead is never on with BioTlsSocket, which relies on OpenSSL leaving in its
    incoming buffer the bytes of records it has not read."""
    chosen = mode()
    if chosen == "gevent":
        return
    if server and chosen == "bio":
        context.sslsocket_class = BioTlsSocket
        return
    context.sslsocket_class = TlsDataSocket
    if server and openssl.available:
        openssl.set_read_ahead(context)
