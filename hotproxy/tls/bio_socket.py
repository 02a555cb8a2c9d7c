"""A TLS socket whose OpenSSL object reads and writes memory buffers (``ssl.MemoryBIO``), not the
socket: this module moves the bytes between those buffers and the plain socket itself.

What that changes against OpenSSL writing to the socket (data_socket.py):

- ``send`` encrypts into the outgoing buffer and writes all of its records in one ``send`` system
  call: a 64 KiB response is four or five records, written by OpenSSL in as many ``write`` calls.
- ``recv`` decrypts what the incoming buffer holds; only when it holds nothing (and OpenSSL has no
  decrypted bytes left) does it read the socket, once, for everything the socket has. So no
  ``SSLWantReadError`` is raised and caught on the common path, and no read-ahead is needed.
- The handshake's flights go out in one write each.

The object is a gevent ``SSLSocket`` to the rest of hotproxy: the certificate, cipher, version,
ALPN, SNI and session accessors are gevent's, over the same ``_ssl._SSLSocket`` (``_sslobj``), and
``isinstance(sock, SSLSocket)`` still keeps splice away from it (network/pump.py). Only the calls
that move bytes are this module's. Semantics kept from gevent's: a bare EOF is an empty read when
``suppress_ragged_eofs`` (the default), a close_notify is an empty read, ``shutdown`` drops the TLS
state (no close_notify) and ``unwrap`` sends one. One difference: encrypted bytes are always
written whole before ``send`` returns, even on a non-blocking socket (hotproxy has none).
"""
from __future__ import annotations

from ssl import SSL_ERROR_EOF, MemoryBIO, SSLError, SSLWantReadError, SSLWantWriteError

from gevent.socket import timeout_default
from gevent.ssl import SSLSocket

# Raised when a wait outlives the socket's timeout; shared, as gevent shares its own.
_READ_TIMEOUT = SSLError("The read operation timed out")
_WRITE_TIMEOUT = SSLError("The write operation timed out")
_HANDSHAKE_TIMEOUT = SSLError("The handshake operation timed out")

#: One socket read takes up to this much. The buffer is the worker's, shared by its connections:
#: nothing switches greenlets between the read into it and the copy into a connection's BIO.
_RECV_SIZE = 65536
_scratch = bytearray(_RECV_SIZE)
_scratch_view = memoryview(_scratch)

#: ``send`` encrypts at most this much plain text per call (the caller loops): a 64 KiB body with
#: its head.
_MAX_SEND = 68 * 1024
#: OpenSSL's memory BIO never gives back what it grew to, for the connection's life. So plain text
#: is encrypted a record's worth at a time and each batch of records taken out of the outgoing
#: buffer at once (all of them still go out in one ``sendmsg``), and the incoming buffer is fed at
#: most this much at once: neither holds more than about one record, whatever the body sizes.
_SLICE = 16384 + 256


class BioTlsSocket(SSLSocket):
    # gevent's __init__ makes the OpenSSL object through this (name-mangled) method.
    def _SSLSocket__create_sslobj(self, server_side=False, session=None):
        self._incoming = MemoryBIO()
        self._outgoing = MemoryBIO()
        self._peer_closed = False
        self._flushing = False
        self._queued = []      # records taken from the outgoing buffer, not yet sent, in order
        self._unfed = b""      # bytes read from the socket, not yet given to the incoming buffer
        # owner: the _contextawaresock, which gevent's SNI callback wrapper expects to receive
        return self.context._wrap_bio(self._incoming, self._outgoing, server_side, self.server_hostname,
                                      owner=self._sock, session=session)

    # the handshake

    def do_handshake(self):
        self._check_connected()
        sslobj = self._sslobj
        try:
            while True:
                try:
                    sslobj.do_handshake()
                    break
                except SSLWantReadError:
                    if self._outgoing.pending:
                        self._flush()
                    self._fill(_HANDSHAKE_TIMEOUT)
        except (SSLError, OSError):
            self._flush_quietly()   # the alert OpenSSL wrote, as it would have sent it itself
            raise
        if self._outgoing.pending:
            self._flush()   # the last flight (a server's session tickets, a client's Finished)

    # reading

    def recv(self, buflen=1024, flags=0):
        if self._sslobj is None or flags or buflen <= 0:
            return SSLSocket.recv(self, buflen, flags)
        return self._read(buflen, None)

    def recv_into(self, buffer, nbytes=None, flags=0):
        if self._sslobj is None or flags or buffer is None:
            return SSLSocket.recv_into(self, buffer, nbytes, flags)
        if not nbytes:
            nbytes = (len(buffer) if type(buffer) is bytearray else memoryview(buffer).nbytes) or 1024
        return self._read(nbytes, buffer)

    def read(self, nbytes=1024, buffer=None):
        if self._sslobj is None:
            raise ValueError("Read on closed or unwrapped SSL socket.")
        return self._read(nbytes, buffer) if nbytes > 0 else (b"" if buffer is None else 0)

    def pending(self):
        """Bytes readable without waiting for the socket: OpenSSL's decrypted bytes, plus (as a
        count of encrypted bytes) what the incoming buffer holds."""
        sslobj = self._sslobj
        if sslobj is None:
            return 0
        return sslobj.pending() + self._incoming.pending + len(self._unfed)

    def _read(self, nbytes, buffer):
        incoming = self._incoming
        while True:
            sslobj = self._sslobj
            if sslobj is None:
                raise ValueError("Read on closed or unwrapped SSL socket.")
            # OpenSSL (without read-ahead) takes from the buffer only what a record needs, so an
            # empty buffer and no decrypted bytes mean it could only ask for more: read the socket.
            if incoming.pending or sslobj.pending() or incoming.eof:
                try:
                    data = sslobj.read(nbytes) if buffer is None else sslobj.read(nbytes, buffer)
                except SSLWantReadError:
                    data = None   # a record not whole yet
                except SSLError as error:
                    self._flush_quietly()
                    if error.args[0] == SSL_ERROR_EOF and self.suppress_ragged_eofs:
                        return b"" if buffer is None else 0
                    raise
                if self._outgoing.pending:
                    self._flush()   # what a read made OpenSSL answer (an alert, a KeyUpdate)
                if data is not None:
                    if not data:
                        self._peer_closed = True   # close_notify: every later read is empty too
                    return data
            elif self._peer_closed:
                return b"" if buffer is None else 0
            self._fill(_READ_TIMEOUT)

    def _fill(self, timeout_exc):
        """One read of the socket into the incoming buffer (its EOF, at the end); first, bytes
        an earlier read left over."""
        if self._unfed:
            self._feed(self._unfed)
            return
        sock = self._sock
        while True:
            try:
                count = sock.recv_into(_scratch)
                break
            except BlockingIOError:
                self._wait(self._read_event, timeout_exc=timeout_exc)
            except ConnectionResetError:
                count = 0   # as OpenSSL on the socket reports it: an EOF without close_notify
                break
        if count:
            self._feed(_scratch_view[:count])
        else:
            self._incoming.write_eof()

    def _feed(self, data):
        """Give the incoming buffer a slice of ``data`` (a memoryview); keep the rest for the next
        time it runs dry, copied once out of the shared scratch buffer."""
        if len(data) <= _SLICE:
            self._incoming.write(data)
            self._unfed = b""
        else:
            self._incoming.write(data[:_SLICE])
            rest = data[_SLICE:]
            self._unfed = memoryview(bytes(rest)) if rest.obj is _scratch else rest

    # writing

    def send(self, data, flags=0, timeout=timeout_default):
        sslobj = self._sslobj
        if sslobj is None or flags:
            return SSLSocket.send(self, data, flags, timeout)
        end = min(len(data), _MAX_SEND)
        if end > _SLICE:
            data = memoryview(data)
        outgoing, queued = self._outgoing, self._queued
        count = 0
        while count < end:
            try:
                count += sslobj.write(data if end <= _SLICE else data[count:min(count + _SLICE, end)])
            except SSLWantReadError:   # TLS 1.2: a handshake message must be read first
                self._flush()
                self._fill(_WRITE_TIMEOUT)
                continue
            queued.append(outgoing.read())
        self._flush()
        return count

    def write(self, data):
        if self._sslobj is None:
            raise ValueError("Write on closed or unwrapped SSL socket.")
        return self.send(data)

    def sendall(self, data, flags=0):
        if self._sslobj is None or flags:
            return SSLSocket.sendall(self, data, flags)
        view = memoryview(data).cast("B")
        sent, total = 0, len(view)
        while sent < total:
            sent += self.send(view[sent:])

    def _flush(self):
        """Send the queued records and what the outgoing buffer holds, waiting while the socket's
        buffer is full. One greenlet at a time: another that finds a flush under way (a writer, or
        a reader that made OpenSSL answer something) leaves its records queued or in the buffer
        for that flush to send after the bytes it holds, so records never interleave on the wire.
        Whatever is in the buffer is newer than what is queued (a writer queues its records as
        soon as OpenSSL wrote them), so it goes last."""
        if self._flushing:
            return
        self._flushing = True
        try:
            outgoing, queued = self._outgoing, self._queued
            sock = self._sock
            while queued or outgoing.pending:
                if outgoing.pending:
                    queued.append(outgoing.read())
                buffers = [records for records in queued if records]
                queued.clear()
                while buffers:
                    try:
                        sent = sock.sendmsg(buffers)
                    except BlockingIOError:
                        self._wait(self._write_event, timeout_exc=_WRITE_TIMEOUT)
                        continue
                    while sent:
                        first = len(buffers[0])
                        if sent < first:
                            buffers[0] = memoryview(buffers[0])[sent:]
                            break
                        sent -= first
                        del buffers[0]
        finally:
            self._flushing = False

    def _flush_quietly(self):
        try:
            if self._outgoing.pending or self._queued:
                self._flush()
        except (OSError, SSLError):
            pass

    # ending

    def unwrap(self):
        """Send a close_notify, wait for the peer's (or its EOF), and return the plain socket
        (this object, with no TLS state), as gevent's."""
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("No SSL wrapper around " + str(self))
        while True:
            try:
                sslobj.shutdown()
                break
            except SSLWantReadError:
                self._flush()
                if self._incoming.eof:
                    break
                self._fill(_READ_TIMEOUT)
            except SSLWantWriteError:
                self._flush()
            except SSLError:   # an EOF or a zero return: the peer is gone or already closed
                break
        self._flush_quietly()
        self._sslobj = None
        return self

    def verify_client_post_handshake(self):
        SSLSocket.verify_client_post_handshake(self)
        self._flush()
