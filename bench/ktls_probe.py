"""Can this host hand TLS records to the kernel (kTLS)? What the kernel offers, how the OpenSSL that
Python's ``ssl`` links was built, and what happens when a real exchange asks for it: both ends set
``SSL_OP_ENABLE_KTLS``, a TLS 1.2 and a TLS 1.3 connection exchange a few bytes over loopback, and
the server's socket BIOs are asked whether the kernel carries their records
(``BIO_get_ktls_send`` / ``BIO_get_ktls_recv``), and the socket which upper-layer protocol it has
(``TCP_ULP``).

    python bench/ktls_probe.py          # run it under strace -f -e trace=setsockopt to see OpenSSL try
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gzip
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotproxy.tls import openssl  # noqa: E402

OP_ENABLE_KTLS = 1 << 3             # SSL_OP_ENABLE_KTLS (Python 3.12 names it ssl.OP_ENABLE_KTLS)
TCP_ULP = 31
BIO_CTRL_GET_KTLS_SEND, BIO_CTRL_GET_KTLS_RECV = 73, 76


def kernel() -> list[str]:
    lines = []
    try:
        lines.append("tcp_available_ulp: " + Path("/proc/sys/net/ipv4/tcp_available_ulp").read_text().strip())
    except OSError as error:
        lines.append(f"tcp_available_ulp: unreadable ({error.strerror})")
    try:
        config = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
        found = [line for line in config.splitlines() if line.startswith(("CONFIG_TLS=", "# CONFIG_TLS ",
                                                                          "CONFIG_MODULES=", "# CONFIG_MODULES "))]
        lines.append("kernel config: " + "; ".join(found))
    except OSError:
        lines.append("kernel config: /proc/config.gz absent")
    lines.append("/proc/net/tls_stat: " + ("present" if Path("/proc/net/tls_stat").exists() else "absent"))
    probe = socket.socket()
    listener = socket.create_server(("127.0.0.1", 0))
    probe.connect(listener.getsockname())
    try:
        probe.setsockopt(socket.SOL_TCP, TCP_ULP, b"tls")
        lines.append('setsockopt(TCP_ULP, "tls"): accepted')
    except OSError as error:
        lines.append(f'setsockopt(TCP_ULP, "tls"): {error.strerror}')
    probe.close()
    listener.close()
    return lines


def openssl_build() -> str:
    header = Path("/usr/include/x86_64-linux-gnu/openssl/configuration.h")
    built = "unknown (no configuration.h)"
    if header.exists():
        built = "without kTLS (OPENSSL_NO_KTLS)" if "OPENSSL_NO_KTLS" in header.read_text() else "with kTLS"
    return f"{ssl.OPENSSL_VERSION}: built {built}"


def exchange(certificate, key, version) -> str:
    crypto = ctypes.CDLL(ctypes.util.find_library("crypto"))
    crypto.BIO_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    crypto.BIO_ctrl.restype = ctypes.c_long
    libssl = openssl._libssl
    libssl.SSL_get_wbio.argtypes = libssl.SSL_get_rbio.argtypes = [ctypes.c_void_p]
    libssl.SSL_get_wbio.restype = libssl.SSL_get_rbio.restype = ctypes.c_void_p
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certificate, key)
    server.maximum_version = version
    server.options |= OP_ENABLE_KTLS
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    client.options |= OP_ENABLE_KTLS
    listener = socket.create_server(("127.0.0.1", 0))
    ends = []

    def run():
        end = client.wrap_socket(socket.create_connection(listener.getsockname()))
        ends.append(end)
        end.sendall(b"ping")
        end.recv(4)

    thread = threading.Thread(target=run)
    thread.start()
    raw, _ = listener.accept()
    tls = server.wrap_socket(raw, server_side=True)
    assert tls.recv(4) == b"ping"
    tls.sendall(b"pong")
    thread.join()
    pointer = openssl.ssl_pointer(tls)
    send = crypto.BIO_ctrl(libssl.SSL_get_wbio(pointer), BIO_CTRL_GET_KTLS_SEND, 0, None)
    receive = crypto.BIO_ctrl(libssl.SSL_get_rbio(pointer), BIO_CTRL_GET_KTLS_RECV, 0, None)
    ulp = tls.getsockopt(socket.SOL_TCP, TCP_ULP, 16).rstrip(b"\0").decode() or "none"
    negotiated = tls.version()
    for end in (tls, *ends):
        end.close()
    listener.close()
    return f"{negotiated}: kernel sends records: {bool(send)}, receives: {bool(receive)}; TCP_ULP: {ulp}"


def main():
    for line in kernel():
        print(line)
    print(openssl_build())
    if not openssl.available:
        print("OpenSSL's SSL objects cannot be reached through ctypes here")
        return
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["bash", str(ROOT / "deploy/double-proxy/gen-certs.sh"), scratch], check=True,
                       capture_output=True)
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            print(exchange(f"{scratch}/edge-server.pem", f"{scratch}/edge-server.key", version))


if __name__ == "__main__":
    main()
