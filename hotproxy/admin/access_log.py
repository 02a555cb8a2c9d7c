"""Access logs of the admin interface (``admin.access_log`` and ``admin.access_log_path``): one
line per admin request, formatted like a connection manager's, through the flusher."""
from __future__ import annotations

import time

from ..stream_info import StreamInfo


def admin_request_info(environ, started, started_monotonic, status, body_size):
    """The StreamInfo of one admin request from its WSGI environ."""
    info = StreamInfo.started(started, started_monotonic)
    info.protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    info.method = environ["REQUEST_METHOD"].encode()
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING")
    info.path = (f"{path}?{query}" if query else path).encode("latin-1", "replace")
    info.scheme = b"http"
    info.request_headers = [(key[5:].lower().replace("_", "-").encode(), value.encode("latin-1", "replace"))
                            for key, value in environ.items() if key.startswith("HTTP_")]
    info.response_code = status
    info.response_code_details = "admin_filter_response"
    info.bytes_received = int(environ.get("CONTENT_LENGTH") or 0)
    info.bytes_sent = body_size
    remote = f"{environ.get('REMOTE_ADDR', '')}:{environ.get('REMOTE_PORT', 0)}"
    info.downstream_remote_address = info.downstream_direct_remote_address = remote
    info.downstream_local_address = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', 0)}"
    elapsed = int((time.monotonic() - started_monotonic) * 1000)
    info.request_complete_ms = info.response_complete_ms = elapsed
    return info
