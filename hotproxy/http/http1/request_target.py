"""The request target of an HTTP/1.1 request line (RFC 9112 §3.2), checked and turned into the
origin-form that is routed and forwarded."""
from __future__ import annotations

from ...errors import ProtocolError
from ..authority import is_valid_host


def check_request_target(head, url):
    """The target to route and forward: ``url`` in origin-form (``/path?query``) or ``*``.

    An absolute-form ``url`` gives its authority to ``head.host`` and the Host header (§3.2.2).
    Refused with 400, as Envoy's codec refuses them: ``*`` for any method but OPTIONS, an
    absolute-form URL that is not http(s) or has no valid authority, and a Host that is not
    ``uri-host [":" port]``.
    """
    if url[:1] == b"/" or head.method == b"CONNECT":  # CONNECT's authority-form: see the HCM
        target = url
    elif url == b"*":
        if head.method != b"OPTIONS":
            raise ProtocolError(400, "http1.invalid_url")
        target = url
    else:
        target = _origin_form(head, url)
    if head.host is not None and not is_valid_host(head.host):
        raise ProtocolError(400, "http.invalid_authority")
    return target


def _origin_form(head, url):
    """``http://host/path`` → ``/path``, the URL's authority replacing Host."""
    lowered = url[:8].lower()
    if lowered.startswith(b"http://"):
        rest = url[7:]
    elif lowered.startswith(b"https://"):
        rest = url[8:]
    else:
        raise ProtocolError(400, "http1.invalid_url")
    end = len(rest)
    for delimiter in (b"/", b"?", b"#"):
        at = rest.find(delimiter)
        if 0 <= at < end:
            end = at
    authority, path = rest[:end], rest[end:]
    # userinfo ("user@host") is refused: RFC 9110 §4.2.4 calls it a phishing device
    if not authority or not is_valid_host(authority, port_required=True):
        raise ProtocolError(400, "http1.invalid_url")
    if path[:1] != b"/":
        path = b"/" + path  # "http://h" and "http://h?q" have the path "/"
    head.host = authority
    head.headers = [(b"host", authority)] + [h for h in head.headers if h[0] != b"host"]
    return path


def is_valid_connect_target(head):
    """A CONNECT's target is the authority-form only (RFC 9112 §3.2.3): Envoy answers 400 to an
    origin-form or ``*`` one. Every CONNECT reaches here, as llhttp reads it as an upgrade."""
    target = head.target
    return head.method != b"CONNECT" or not (target[:1] == b"/" or target == b"*")
