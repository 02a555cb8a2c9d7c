"""A stream to drive one filter's hooks with, sans-IO, as http/filters/api.py describes it.

``FakeStream.run_request`` / ``run_response`` feed a filter the way the chain does: headers, then
each data piece, honouring STOP (held and buffered) and replaced data; they return what the next
filter (or the client) would get.
"""
from hotproxy.http.filters.api import CONTINUE, STOP, Response
from hotproxy.stream_info import StreamInfo


class FakeRequest:
    def __init__(self, method=b"GET", target=b"/", host=b"example.com", headers=()):
        self.method = method
        self.target = target
        self.host = host
        self.headers = [(b"host", host), *headers]


class FakeTls:
    def __init__(self, peer_uris=(), peer_dns=(), subject=""):
        self.peer_uris = list(peer_uris)
        self.peer_dns = list(peer_dns)
        self.peer_subject = subject


class FakeConnection:
    def __init__(self, remote_ip="10.0.0.1", local_address="10.0.0.2:8080", tls=None):
        self.remote_ip = remote_ip
        self.remote_port = 40000
        self.local_address = local_address
        self.tls = tls


class FakeStream:
    def __init__(self, request=None, route=None, per_route=None, connection=None):
        self.request = request or FakeRequest()
        self.route = route
        self.per_route = per_route or {}
        self.connection = connection or FakeConnection()
        self.info = StreamInfo()
        self.local_reply = None        # (status, body, headers, details, flag) once answered
        self.route_cleared = False

    def route_config(self, name):
        return self.per_route.get(name)

    def clear_route_cache(self):
        self.route_cleared = True

    def send_local_reply(self, status, body=b"", headers=(), details=None, flag=None):
        self.local_reply = (status, body, list(headers), details, flag)
        return STOP

    def run_request(self, filter_, pieces=()):
        """(headers passed on?, the data passed on). ``pieces``: the body, in reads."""
        return _run(filter_.decode_headers, filter_.decode_data, self, None, pieces, self)

    def run_response(self, filter_, status=200, headers=(), pieces=()):
        """(Response or None when held, the data passed on)."""
        response = Response(status, list(headers))
        return _run(lambda s, end: filter_.encode_headers(s, response, end), filter_.encode_data,
                    self, response, pieces, self)


def _run(on_headers, on_data, stream, response, pieces, _):
    held = on_headers(stream, not pieces) is STOP
    if stream.local_reply is not None:
        return None, b""
    passed, buffered = [], []
    for index, piece in enumerate(pieces):
        end = index == len(pieces) - 1
        result = on_data(stream, piece, end)
        if stream.local_reply is not None:
            return None, b""
        if result is STOP:
            buffered.append(piece)
            continue
        if result is CONTINUE:
            passed.extend(buffered)
            passed.append(piece)
        else:
            passed.append(bytes(result))   # it stands for what was buffered too
        buffered.clear()
        held = False
    if held:
        return None, b"".join(passed)
    return (response if response is not None else True), b"".join(passed)
