"""Building TLS contexts from config fragments, and a handshake over a socketpair."""
import gevent
from gevent import socket

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_tls import downstream_tls_context, upstream_tls_context


def parse(parser, tree):
    """(parsed, problems) of a config fragment."""
    ctx = Context()
    parsed = parser(Node(tree, "tls", ctx))
    return parsed, ctx.problems


def downstream(tree):
    parsed, problems = parse(downstream_tls_context, tree)
    assert problems == []
    return parsed


def upstream(tree):
    parsed, problems = parse(upstream_tls_context, tree)
    assert problems == []
    return parsed


def certificate(issued, password=None):
    entry = {"certificate_chain": {"inline_string": issued.chain_pem.decode()},
             "private_key": {"inline_string": issued.key_pem(password).decode()}}
    if password:
        entry["password"] = {"inline_string": password.decode()}
    return entry


def handshake(server_tls, client_tls, hostname=""):
    """Run a handshake between ``ServerTls`` and ``ClientTls`` over a socketpair:
    (client-side TLS socket or the client's exception, server-side TLS socket or the server's
    exception)."""
    left, right = socket.socketpair()

    def serve():
        tls = server_tls.default.wrap_socket(right, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
            tls.recv(1)  # TLS 1.3: the client's certificate is checked after its Finished
            return tls
        except Exception as error:  # noqa: BLE001 — the test inspects it
            right.close()
            return error

    server = gevent.spawn(serve)
    try:
        client = client_tls.wrap(left, hostname)
        client.send(b"x")
    except Exception as error:  # noqa: BLE001
        client = error
        left.close()
    return client, server.get(timeout=10)
