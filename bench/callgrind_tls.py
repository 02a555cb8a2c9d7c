"""Instructions per keep-alive request over TLS in a hotproxy worker: bench/callgrind_path.py with
the listener terminating TLS (TLS 1.3, the ECDSA P-256 certificate of
deploy/double-proxy/gen-certs.sh) and clients that speak TLS. Every run opens the same 10
connections, so their handshakes cancel out of the difference between the long and the short run;
what is left is the per-request cost of reading and writing through the TLS socket.

callgrind counts instructions in user space only: a system call saved (one ``read`` less per
request) shows as the few hundred instructions around it, not as the kernel's time.

    python bench/callgrind_tls.py --baseline /tmp/base
    python bench/callgrind_tls.py --body-size 65536
"""
from __future__ import annotations

import argparse
import os
import ssl
import subprocess
import tempfile
from pathlib import Path

import callgrind_path as plain
from callgrind_worker import per_request, worker_instructions

_CHAIN = """    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: {{{{ filename: {chain} }}}}
              private_key: {{{{ filename: {key} }}}}
      filters:
"""


def tls_client(port, requests, body_size):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    plain.client(port, requests, body_size, wrap=context.wrap_socket)


def count(checkout, requests, scratch, body_size):
    """Instructions the worker executed for ``requests`` TLS requests (plus start and stop)."""
    listen, up = plain.free_port(), plain.free_port()
    plain.upstream(up, plain.response(body_size))

    def drive():
        tls_client(listen, 200, body_size)  # warm: imports, first connections
        tls_client(listen, requests, body_size)

    return worker_instructions(checkout, scratch, plain.CONFIG.format(listen=listen, upstream=up, filters="", policy=""),
                               listen, drive, f"tls-{requests}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to measure the same way")
    parser.add_argument("--body-size", type=int, default=12, help="response body bytes (default 12)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set in hotproxy's environment for the first row (e.g. a switch under test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotproxy-callgrind-tls-") as scratch:
        scratch = Path(scratch)
        subprocess.run(["bash", str(plain.ROOT / "deploy/double-proxy/gen-certs.sh"), str(scratch / "certs")],
                       check=True, capture_output=True)
        chain = _CHAIN.format(chain=scratch / "certs/edge-server.pem", key=scratch / "certs/edge-server.key")
        plain.CONFIG = plain.CONFIG.replace("    - filters:\n", chain, 1)
        rows = [("hotproxy", plain.ROOT)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
        results = {}
        for name, path in rows:
            extra = dict(item.split("=", 1) for item in args.env) if name == "hotproxy" else {}
            with _environment(extra):
                results[name] = per_request(lambda n, path=path: count(path, n, scratch, args.body_size),
                                            args.requests)
    for name, value in results.items():
        print(f"{name:10} {value:10.0f} instructions per request")
    if args.baseline:
        print(f"change     {results['hotproxy'] / results['baseline'] - 1:+10.1%}")


class _environment:
    def __init__(self, values):
        self.values = values
        self.saved = {}

    def __enter__(self):
        for name, value in self.values.items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value

    def __exit__(self, *_):
        for name, old in self.saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


if __name__ == "__main__":
    main()
