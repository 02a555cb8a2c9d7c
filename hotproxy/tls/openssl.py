"""What Python's ``ssl`` module cannot set on an ``SSLContext``, set on its OpenSSL ``SSL_CTX``
through ctypes: session-ticket keys (so that every worker process, and every generation, resumes
the sessions of the others), the session cache timeout, the list of key-exchange groups, the
TLS 1.3 cipher suites, and read-ahead (data_socket.py).

How it finds the ``SSL_CTX``: CPython's ``PySSLContext`` object starts with the object header
(reference count, type) followed by the ``SSL_CTX *``. That layout has held since Python 3.4 and
is checked at import: a context whose pointer does not answer ``SSL_CTX_get_timeout`` as the
module set it makes ``available`` False, and the callers then refuse the config fields that need
it rather than guess. libssl is the one ``_ssl`` is linked against (the one mapped into the process).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import ssl

_SSL_CTRL_SET_READ_AHEAD = 41
_SSL_CTRL_SET_SESS_CACHE_MODE = 44
_SSL_CTRL_SET_TLSEXT_TICKET_KEYS = 59
_SSL_CTRL_SET_GROUPS_LIST = 92

#: Envoy's session ticket key size: 16 bytes of name, 32 of HMAC secret, 32 of AES key.
TICKET_KEY_SIZE = 80


def _load_libssl():
    """The libssl that ``_ssl`` is linked against: the one mapped into this process."""
    import _ssl  # noqa: F401 — maps its libssl
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libssl.so" in line}
    except OSError:
        paths = set()
    for path in sorted(paths) or [ctypes.util.find_library("ssl")]:
        if path:
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


_libssl = _load_libssl()
if _libssl is not None:
    _libssl.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    _libssl.SSL_CTX_ctrl.restype = ctypes.c_long
    _libssl.SSL_CTX_set_timeout.argtypes = [ctypes.c_void_p, ctypes.c_long]
    _libssl.SSL_CTX_set_timeout.restype = ctypes.c_long
    _libssl.SSL_CTX_get_timeout.argtypes = [ctypes.c_void_p]
    _libssl.SSL_CTX_get_timeout.restype = ctypes.c_long
    _libssl.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    _libssl.SSL_CTX_set_ciphersuites.restype = ctypes.c_int


def _ssl_ctx(context: ssl.SSLContext) -> int:
    return ctypes.c_void_p.from_address(id(context) + 2 * ctypes.sizeof(ctypes.c_void_p)).value


def _probe() -> bool:
    if _libssl is None:
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pointer = _ssl_ctx(context)
    _libssl.SSL_CTX_set_timeout(pointer, 4321)
    return _libssl.SSL_CTX_get_timeout(pointer) == 4321


available = _probe()


class OpenSSLUnavailable(RuntimeError):
    """The SSL_CTX of a Python SSLContext cannot be reached here."""


def _pointer(context):
    if not available:
        raise OpenSSLUnavailable("this Python's ssl module does not expose its OpenSSL context")
    return _ssl_ctx(context)


def set_ticket_keys(context: ssl.SSLContext, keys: list[bytes]) -> None:
    """Encrypt new session tickets with ``keys[0]`` and accept those of every key (rotation).
    OpenSSL takes one key through this call: the others are accepted only by Envoy, which keeps
    a list; here the first key is the one that issues and decrypts."""
    key = keys[0]
    if len(key) != TICKET_KEY_SIZE:
        raise ValueError(f"a session ticket key must be {TICKET_KEY_SIZE} bytes, not {len(key)}")
    buffer = ctypes.create_string_buffer(key, len(key))
    if _libssl.SSL_CTX_ctrl(_pointer(context), _SSL_CTRL_SET_TLSEXT_TICKET_KEYS, len(key), buffer) != 1:
        raise ssl.SSLError("OpenSSL refused the session ticket key")


def set_session_timeout(context: ssl.SSLContext, seconds: int) -> None:
    _libssl.SSL_CTX_set_timeout(_pointer(context), int(seconds))


def set_groups(context: ssl.SSLContext, groups: list[str]) -> None:
    """The key-exchange groups (``ecdh_curves``), e.g. ``["X25519", "P-256"]``."""
    names = ":".join(groups).encode()
    buffer = ctypes.create_string_buffer(names)
    if _libssl.SSL_CTX_ctrl(_pointer(context), _SSL_CTRL_SET_GROUPS_LIST, 0, buffer) != 1:
        raise ssl.SSLError(f"unknown ECDH curves: {', '.join(groups)}")


def set_tls13_cipher_suites(context: ssl.SSLContext, suites: list[str]) -> None:
    if _libssl.SSL_CTX_set_ciphersuites(_pointer(context), ":".join(suites).encode()) != 1:
        raise ssl.SSLError(f"unknown TLS 1.3 cipher suites: {', '.join(suites)}")


def set_read_ahead(context: ssl.SSLContext) -> None:
    """OpenSSL reads as many bytes as the socket has into its buffer, not a record's 5-byte header
    and then its body: one ``read`` system call per record instead of two (three with the read
    that finds nothing more)."""
    _libssl.SSL_CTX_ctrl(_pointer(context), _SSL_CTRL_SET_READ_AHEAD, 1, None)


def disable_session_cache(context: ssl.SSLContext) -> None:
    """No server-side session cache (``disable_stateful_session_resumption``)."""
    _libssl.SSL_CTX_ctrl(_pointer(context), _SSL_CTRL_SET_SESS_CACHE_MODE, 0, None)


# What a completed handshake negotiated, read from the connection's ``SSL`` (Python 3.11's ``ssl``
# does not say which key-exchange group or peer signature algorithm was used). CPython's
# ``PySSLSocket`` holds the object header, then the socket's weakref, then the ``SSL *``; the
# layout is checked once against ``SSL_get_SSL_CTX`` before it is trusted.
_SSL_CTRL_GET_PEER_SIGNATURE_NID = 108
_SSL_CTRL_GET_NEGOTIATED_GROUP = 134
# Group NIDs and signature (key type NID, hash NID) pairs, by the names BoringSSL (so Envoy's
# ssl.curves.* and ssl.sigalgs.* stats) gives them.
_GROUP_NAMES = {415: "P-256", 715: "P-384", 716: "P-521", 1034: "X25519", 1035: "X448"}
_SHA1, _SHA256, _SHA384, _SHA512, _MD5_SHA1 = 64, 672, 673, 674, 114
_SIGNATURE_NAMES = {
    (408, _SHA256): "ecdsa_secp256r1_sha256", (408, _SHA384): "ecdsa_secp384r1_sha384",
    (408, _SHA512): "ecdsa_secp521r1_sha512", (408, _SHA1): "ecdsa_sha1",
    (6, _SHA256): "rsa_pkcs1_sha256", (6, _SHA384): "rsa_pkcs1_sha384", (6, _SHA512): "rsa_pkcs1_sha512",
    (6, _SHA1): "rsa_pkcs1_sha1", (6, _MD5_SHA1): "rsa_pkcs1_md5_sha1",
    (912, _SHA256): "rsa_pss_rsae_sha256", (912, _SHA384): "rsa_pss_rsae_sha384",
    (912, _SHA512): "rsa_pss_rsae_sha512",
}
_ED25519 = 1087
_ssl_layout_ok = None

if _libssl is not None:
    _libssl.SSL_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    _libssl.SSL_ctrl.restype = ctypes.c_long
    _libssl.SSL_get_SSL_CTX.argtypes = [ctypes.c_void_p]
    _libssl.SSL_get_SSL_CTX.restype = ctypes.c_void_p
    _libssl.SSL_get_peer_signature_type_nid.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    _libssl.SSL_get_peer_signature_type_nid.restype = ctypes.c_int


def negotiated(tls_socket) -> tuple[str | None, str | None]:
    """The key-exchange group and the peer's signature algorithm of ``tls_socket``'s completed
    handshake, by Envoy's names (``X25519``, ``ecdsa_secp256r1_sha256``); None for what is unknown
    or cannot be read here (a resumed session signs nothing; a server's peer signs only with a
    client certificate)."""
    pointer = _ssl_pointer(tls_socket)
    if pointer is None:
        return None, None
    group = _GROUP_NAMES.get(_libssl.SSL_ctrl(pointer, _SSL_CTRL_GET_NEGOTIATED_GROUP, 0, None))
    kind, digest = ctypes.c_int(0), ctypes.c_int(0)
    signature = None
    if _libssl.SSL_get_peer_signature_type_nid(pointer, ctypes.byref(kind)) == 1:
        if kind.value == _ED25519:
            signature = "ed25519"
        elif _libssl.SSL_ctrl(pointer, _SSL_CTRL_GET_PEER_SIGNATURE_NID, 0, ctypes.byref(digest)) == 1:
            signature = _SIGNATURE_NAMES.get((kind.value, digest.value))
    return group, signature


def ssl_pointer(tls_socket) -> int | None:
    """The ``SSL *`` of a Python TLS socket after its handshake, or None where it cannot be read."""
    return _ssl_pointer(tls_socket)


def _ssl_pointer(tls_socket) -> int | None:
    global _ssl_layout_ok
    sslobj = getattr(tls_socket, "_sslobj", None)
    if not available or sslobj is None:
        return None
    pointer = ctypes.c_void_p.from_address(id(sslobj) + 3 * ctypes.sizeof(ctypes.c_void_p)).value
    if _ssl_layout_ok is None:
        _ssl_layout_ok = bool(pointer) and _libssl.SSL_get_SSL_CTX(pointer) == _ssl_ctx(tls_socket.context)
    return pointer if _ssl_layout_ok else None


def count_negotiated(counters, tls_socket) -> None:
    """Count ``curves.<group>`` and ``sigalgs.<algorithm>`` of a handshake, as Envoy's ``ssl.*``."""
    group, signature = negotiated(tls_socket)
    if group is not None:
        counters.add(f"curves.{group}")
    if signature is not None:
        counters.add(f"sigalgs.{signature}")
