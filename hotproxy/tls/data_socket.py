"""The TLS socket that carries a connection's bytes: gevent's ``SSLSocket`` with a shorter path for
``recv``, ``recv_into`` and ``send``, the three calls of the request path.

What it saves, per keep-alive request (bench/callgrind_tls.py, docs/benchmarks.md):

- gevent's ``recv`` goes through ``_checkClosed``, ``read`` and a loop before it reaches OpenSSL;
  here the call reaches ``_sslobj.read`` directly.
- Turn-taking: after this socket has sent (a response, or a request upstream), the peer's next
  bytes cannot be there before it has read what we sent. A read then would fail with
  ``SSLWantReadError`` (a ``read`` system call and an exception built by ``_ssl``); this socket
  waits for readability first instead. It does so only when OpenSSL holds no bytes of its own
  (``SSL_has_pending``): with read-ahead a whole record can sit in OpenSSL while the descriptor
  shows nothing to read, and waiting then would wait for ever. Where the ``SSL`` cannot be reached
  (openssl.ssl_pointer), it never waits first.

Every other case (flags, a zero length, an unwrapped or closed socket) is gevent's own code.
"""
from __future__ import annotations

import os
from ssl import SSL_ERROR_EOF, SSLError, SSLWantReadError, SSLWantWriteError

from gevent.socket import timeout_default
from gevent.ssl import SSLSocket

from . import openssl

# Raised when a wait outlives the socket's timeout; shared, as gevent shares its own.
_READ_TIMEOUT = SSLError("The read operation timed out")
_WRITE_TIMEOUT = SSLError("The write operation timed out")


class TlsDataSocket(SSLSocket):
    _sent = False            # the last call was a send: the peer's answer is not here yet
    _ssl = None              # this connection's ``SSL *`` (set after the handshake), or None

    def do_handshake(self):
        super().do_handshake()
        self._ssl = openssl.ssl_pointer(self)

    def recv(self, buflen=1024, flags=0):
        sslobj = self._sslobj
        if sslobj is None or flags or buflen <= 0:
            return SSLSocket.recv(self, buflen, flags)
        if self._sent:
            self._wait_for_answer()
        return self._read(buflen, None)

    def recv_into(self, buffer, nbytes=None, flags=0):
        sslobj = self._sslobj
        if sslobj is None or flags or buffer is None:
            return SSLSocket.recv_into(self, buffer, nbytes, flags)
        if not nbytes:
            nbytes = memoryview(buffer).nbytes or 1024
        if self._sent:
            self._wait_for_answer()
        return self._read(nbytes, buffer)

    def send(self, data, flags=0, timeout=timeout_default):
        self._sent = True
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

    def _wait_for_answer(self):
        self._sent = False
        pointer = self._ssl
        if pointer is not None and self.timeout != 0.0 and not openssl.has_pending(pointer):
            self._wait(self._read_event, timeout_exc=_READ_TIMEOUT)

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


#: ``HOTPROXY_TLS_DATA_PATH=gevent`` in hotproxy's environment turns this socket and read-ahead off
#: (gevent's own ``SSLSocket``, OpenSSL's defaults), for comparison or if either is suspected.
DATA_PATH_ENV = "HOTPROXY_TLS_DATA_PATH"


def enabled() -> bool:
    return os.environ.get(DATA_PATH_ENV, "lean") != "gevent"


def configure(context, server: bool) -> None:
    """Make ``context``'s TLS sockets TlsDataSocket, with read-ahead on a server's (downstream)
    connections. Upstream connections keep OpenSSL's record-at-a-time reads: the pool tells an idle
    connection the server closed from a readable descriptor, which bytes read ahead would hide."""
    if not enabled():
        return
    context.sslsocket_class = TlsDataSocket
    if server and openssl.available:
        openssl.set_read_ahead(context)
