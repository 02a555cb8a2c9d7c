"""The harness's client, run inside a client host (``python http_client.py ...``), standard
library only, never retrying, so that what it reports is what a client saw.

``get URL [--connect IP] [--cacert PEM] [--timeout S] [--header 'name: value']``
    one request; prints {"status", "headers", "body"} or {"error"} as JSON. ``--connect`` sends it
    to IP (the URL's host stays the Host header and the TLS server name), as curl's --resolve.
``load URL --out FILE --stop FILE [same options] [--interval S] [--keep-alive]``
    requests until the stop file exists; each outcome is a line of FILE: "200", "503", or
    "error: ...", and "stopped" at the end; fresh connections unless --keep-alive (then a new one only after
    ``Connection: close`` or an error).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import time
from urllib.parse import urlsplit

STOPPED = "stopped"  # the last line of a load's output, once its last request is counted


class _TlsConnection(http.client.HTTPConnection):
    """TLS to ``address`` with the certificate checked against ``server_name``."""

    def __init__(self, address, port, server_name, context, timeout):
        super().__init__(address, port, timeout=timeout)
        self.server_name, self.context = server_name, context

    def connect(self):
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.server_name)


def connection(url, options):
    parts = urlsplit(url)
    address = options.connect or parts.hostname
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=options.cacert)
        return _TlsConnection(address, parts.port or 443, parts.hostname, context, options.timeout)
    return http.client.HTTPConnection(address, parts.port or 80, timeout=options.timeout)


def request(conn, url, options):
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"Host": parts.netloc}
    for header in options.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def get(options):
    conn = connection(options.url, options)
    try:
        status, headers, body = request(conn, options.url, options)
        print(json.dumps({"status": status, "headers": headers, "body": body}))
    except (OSError, http.client.HTTPException) as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
    finally:
        conn.close()


def load(options):
    conn = None
    with open(options.out, "a", buffering=1) as out:
        while not os.path.exists(options.stop):
            try:
                conn = conn or connection(options.url, options)
                status, headers, _ = request(conn, options.url, options)
                out.write(f"{status}\n")
                if not options.keep_alive or headers.get("connection") == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as error:
                out.write(f"error: {type(error).__name__}: {error}\n")
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(options.interval)
        out.write(f"{STOPPED}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("action", choices=("get", "load"))
    parser.add_argument("url")
    parser.add_argument("--connect")
    parser.add_argument("--cacert")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--out")
    parser.add_argument("--stop")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--keep-alive", action="store_true")
    options = parser.parse_args(argv)
    if options.action == "load" and not (options.out and options.stop):
        parser.error("load needs --out and --stop")
    (get if options.action == "get" else load)(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
