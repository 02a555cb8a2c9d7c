"""The readiness probe of a new generation (docs/reloads.md): before the serving generation G
drains, a real HTTP/1.1 request goes through each listener of G+1 that opted in
(``metadata.filter_metadata["hotproxy.reload_probe"]``, config/reload_probe.py).

Every generation accepts on the same listening socket, so a connection to the listener's address
could be taken by a worker of G as well as of G+1. The probe therefore does not connect to that
address: the arbiter makes a loopback TCP connection of its own and hands the accepted end to a
worker of G+1 with the ``adopt`` message, the way idle keep-alive connections move between
generations. The worker serves it as a connection of that listener: its filter chain, HTTP
filters, routing and the upstream cluster of G+1 answer — exactly what the new config would do
with a client's request — and nothing of G is involved.

What differs from a client's connection: the listener filters (TLS inspector, PROXY protocol,
original_dst) do not run, as for any adopted connection, and the chain is chosen by the
connection's addresses, which are loopback ones. The probe speaks TLS (SNI: the probe's host, no
certificate checked, none presented) when every filter chain of the listener terminates TLS,
plain text otherwise.

Until its probes pass, a probed generation does not accept on the shared listening sockets at
all (``holds_accepting``; the workers wait for ``accept``): a client's connection accepted by a
generation that is then rolled back would fail.
"""
from __future__ import annotations

import logging
import socket as _stdsocket

import gevent
from gevent import socket, ssl

from .generation import STARTING
from .messages import ADOPT

log = logging.getLogger("hotproxy.arbiter")

USER_AGENT = "hotproxy-reload-probe"
MAX_ANSWER = 64 * 1024


def holds_accepting(generation, another_serves) -> bool:
    """Whether ``generation``'s workers wait for ACCEPT before accepting on the listening
    sockets: while it is probed, a client's connection must go to the generation that serves
    (``another_serves``: an older generation, or the previous epoch), never to one that may be
    rolled back. Its probe reaches it over adopted connections meanwhile."""
    return (another_serves and generation.state == STARTING
            and any(listener.reload_probe is not None for listener in generation.bootstrap.listeners))


def probe_generation(generation) -> str | None:
    """None when each opted-in listener of ``generation`` answered as its probe expects, else why
    not (every failure, "; "-separated). The probes run at once, each bound by its timeout."""
    listeners = [listener for listener in generation.bootstrap.listeners
                 if listener.reload_probe is not None and listener.name in generation.sockets]
    if not listeners:
        return None
    probes = [(listener.name, listener.reload_probe) for listener in listeners]
    jobs = [gevent.spawn(probe_listener, generation, listener.name, listener.reload_probe, _speaks_tls(listener))
            for listener in listeners]
    gevent.joinall(jobs)
    failures = [job.value if job.successful() else f"probe error: {job.exception}" for job in jobs]
    failures = [failure for failure in failures if failure]
    for (name, probe), job in zip(probes, jobs):
        if job.successful() and not job.value:
            log.info("reload probe: listener '%s' answered GET %s as expected", name, probe.path)
    return "; ".join(failures) or None


def _speaks_tls(listener) -> bool:
    return all(chain.transport_socket is not None for chain in listener.all_filter_chains())


def probe_listener(generation, name, probe, tls=False) -> str | None:
    """One probe through a worker of ``generation``: None if it answered as expected."""
    what = f"listener '{name}': GET {probe.path} (Host: {probe.host})"
    worker = generation.adopter()
    if worker is None:
        return f"{what}: no worker of generation {generation.number} to probe"
    try:
        client = _adopted_connection(worker, name)
    except OSError as error:
        return f"{what}: the probe connection failed: {error}"
    try:
        with gevent.Timeout(probe.timeout, False):
            if tls:
                client = _tls_client().wrap_socket(client, server_hostname=probe.host)
            answer = _exchange(client, probe)
            status, body = parse_answer(answer)
            if status is None:
                return f"{what}: the connection closed without an answer" if not answer else \
                    f"{what}: not an HTTP answer: {answer[:40]!r}"
            if probe.accepts(status):
                return None
            detail = f" ({body})" if body else ""
            return f"{what} answered {status}{detail}, expected {probe.expected()}"
        return f"{what}: no answer within {probe.timeout:g}s"
    except ssl.SSLError as error:
        return f"{what}: the TLS handshake failed: {error.reason or error}"
    except OSError as error:
        return f"{what}: {error}"
    finally:
        client.close()


def _tls_client():
    """The probe checks what the new config answers, not who it is: no verification."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def _adopted_connection(worker, listener_name):
    """A loopback connection whose accepted end ``worker`` now serves as ``listener_name``'s."""
    with socket.socket(_stdsocket.AF_INET, _stdsocket.SOCK_STREAM) as rendezvous:
        rendezvous.bind(("127.0.0.1", 0))
        rendezvous.listen(1)
        client = socket.create_connection(rendezvous.getsockname())
        try:
            accepted, _ = rendezvous.accept()
        except OSError:
            client.close()
            raise
    with accepted:
        if not worker.send({"t": ADOPT, "listener": listener_name}, [accepted.fileno()]):
            client.close()
            raise OSError(f"worker {worker.index} of generation {worker.generation.number} is gone")
    return client


def _exchange(client, probe) -> bytes:
    request = (f"GET {probe.path} HTTP/1.1\r\nHost: {probe.host}\r\nUser-Agent: {USER_AGENT}\r\n"
               f"Connection: close\r\n\r\n").encode()
    client.sendall(request)
    answer = b""
    while len(answer) < MAX_ANSWER:
        data = client.recv(MAX_ANSWER - len(answer))
        if not data:
            break
        answer += data
        if _complete(answer):
            break
    return answer


def _complete(answer: bytes) -> bool:
    """The head and a Content-Length body are in (a chunked or close-delimited body waits)."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def parse_answer(answer: bytes) -> tuple[int | None, str]:
    """(status, the body's first line, shortened) of an HTTP/1.x answer; (None, "") if it is not one."""
    head, _, body = answer.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return None, ""
    first_line = body.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    return int(parts[1]), first_line[:80]
