"""TLS for the integration tests: an HTTPS upstream that records who connected, TLS clients,
and the config fragments for TLS transport sockets. Certificates are made at test time
(tests/certs.py)."""
from __future__ import annotations

import json
import socket
import ssl

from harness import Upstream, UpstreamHandler

DOWNSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


def pem_source(data: bytes) -> dict:
    return {"inline_string": data.decode()}


def tls_certificate(issued) -> dict:
    return {"certificate_chain": pem_source(issued.chain_pem), "private_key": pem_source(issued.key_pem())}


def transport_socket(type_url, context) -> dict:
    return {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": type_url, **context}}


def upstream_tls(ca=None, client=None, **extra) -> dict:
    common = {}
    if ca is not None:
        common["validation_context"] = {"trusted_ca": pem_source(ca.pem)}
    if client is not None:
        common["tls_certificates"] = [tls_certificate(client)]
    return transport_socket(UPSTREAM_TLS, {"common_tls_context": common, **extra})


def downstream_tls(*certificates, ca=None, require_client_certificate=False, **extra) -> dict:
    common = {"tls_certificates": [tls_certificate(c) for c in certificates]}
    if ca is not None:
        common["validation_context"] = {"trusted_ca": pem_source(ca.pem)}
    context = {"common_tls_context": common, **extra}
    if require_client_certificate:
        context["require_client_certificate"] = True
    return transport_socket(DOWNSTREAM_TLS, context)


class _TlsHandler(UpstreamHandler):
    """UpstreamHandler, and the client certificate of the connection in each record."""

    def _handle(self):
        peer = self.connection.getpeercert()
        self.server.peers.append(dict(x[0] for x in peer["subject"]) if peer else None)
        return super()._handle()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _handle


class TlsUpstream(Upstream):
    """The harness's upstream over TLS with ``certificate``; with ``client_ca``, it requires a
    client certificate signed by it. ``handshakes`` counts completed handshakes, ``resumed`` the
    resumed ones."""

    def __init__(self, certificate, client_ca=None, tmp_path=None, by_server_name=None):
        super().__init__()
        self.server.RequestHandlerClass = _TlsHandler
        self.server.peers = []
        context = self._context(certificate, client_ca, tmp_path, "upstream")
        self.handshakes = self.resumed = 0
        self.server_names = []  # the SNI of each handshake (None: none sent)
        upstream = self
        # ``by_server_name``: {SNI: certificate} served instead of ``certificate`` for that SNI
        named = {name: self._context(cert, client_ca, tmp_path, f"upstream-{index}")
                 for index, (name, cert) in enumerate((by_server_name or {}).items())}

        def choose(tls, server_name, _context):
            upstream.server_names.append(server_name)
            if server_name in named:
                tls.context = named[server_name]

        context.sni_callback = choose
        plain_get_request = self.server.get_request

        def get_request():
            sock, address = plain_get_request()
            tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            tls.settimeout(5)
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError):
                tls.close()
                raise OSError("handshake failed") from None
            upstream.handshakes += 1
            upstream.resumed += tls.session_reused
            tls.settimeout(None)
            return tls, address

        self.server.get_request = get_request

    @staticmethod
    def _context(certificate, client_ca, tmp_path, name):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate.write(tmp_path, name))
        if client_ca is not None:
            context.load_verify_locations(cadata=client_ca.pem.decode())
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    @property
    def peers(self):
        return self.server.peers


def client_context(ca=None, certificate=None, tmp_path=None, alpn=None):
    """A client SSLContext verifying against ``ca`` (nothing when None), presenting
    ``certificate`` when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if ca is not None:
        context.load_verify_locations(cadata=ca.pem.decode())
    else:
        context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        context.load_cert_chain(*certificate.write(tmp_path, "client"))
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def tls_client(port, ca=None, server_name=None, certificate=None, tmp_path=None, alpn=None, session=None,
               context=None):
    """A connected TLS client socket (a session resumes only with the ``context`` it came from)."""
    context = context or client_context(ca, certificate, tmp_path, alpn)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(sock, server_hostname=server_name, session=session)


def get_over(sock, path="/echo", host="example.com", extra=b""):
    """One GET on ``sock``; (status, headers dict, body)."""
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), host.encode(), extra))
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed after {data!r}")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def echoed(body) -> dict:
    return json.loads(body)
