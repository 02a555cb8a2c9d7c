"""An HTTP/1.1 health check as bytes: the request Envoy's HTTP health checker sends, and the
verdict on the response (sans-IO, on httptools' parser).

The request is ``GET <path>`` with Host (``host``, else the cluster's name) and
``user-agent: Envoy/HC``, then request_headers_to_remove and request_headers_to_add applied.
A response passes when its status is in expected_statuses (default [200, 201)). A failing
status with ``x-envoy-immediate-health-check-fail`` also excludes the host (Envoy sets the flag
only then). A pass says whether the connection can carry the next check.
"""
from __future__ import annotations

from dataclasses import dataclass

import httptools

USER_AGENT = "Envoy/HC"
IMMEDIATE_FAIL = b"x-envoy-immediate-health-check-fail"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024      # a check reads the body only to find the message's end


@dataclass(frozen=True)
class Verdict:
    passed: bool
    status: int = 0
    immediate_fail: bool = False
    keep_alive: bool = False


class ProbeError(Exception):
    """The response is not HTTP/1.x a check can read: a network failure, as in Envoy."""


def request_bytes(config, cluster_name: str) -> bytes:
    headers = [("host", config.host or cluster_name), ("user-agent", USER_AGENT)]
    removed = set(config.request_headers_to_remove)
    headers = [(name, value) for name, value in headers if name not in removed]
    for option in config.request_headers_to_add:
        headers = _apply(headers, option)
    lines = [f"GET {config.path} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _apply(headers, option):
    present = any(name == option.key for name, _ in headers)
    if not option.value and not option.keep_empty_value:
        return headers
    action = option.append_action
    if action == "ADD_IF_ABSENT" and present:
        return headers
    if action == "OVERWRITE_IF_EXISTS" and not present:
        return headers
    if action in ("OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"):
        headers = [(name, value) for name, value in headers if name != option.key]
    return headers + [(option.key, option.value)]


def status_expected(status: int, expected_statuses) -> bool:
    return any(start <= status < end for start, end in expected_statuses)


class ResponseReader:
    """Feed the bytes of one response; ``feed`` returns the Verdict once the message ends."""

    def __init__(self, expected_statuses):
        self._expected = expected_statuses
        self._status = 0
        self._immediate_fail = False
        self._done = False
        self._head_bytes = 0
        self._body_bytes = 0
        self._headers_complete = False
        self._keep_alive = False
        self._parser = httptools.HttpResponseParser(self)

    # httptools callbacks
    def on_header(self, name, value):
        if name.lower() == IMMEDIATE_FAIL:
            self._immediate_fail = True

    def on_headers_complete(self):
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()   # llhttp forgets it at the end
        self._headers_complete = True

    def on_body(self, body):
        self._body_bytes += len(body)

    def on_message_complete(self):
        if 100 <= self._status < 200:   # interim: the final response follows
            self._status = 0
            self._headers_complete = False
            self._immediate_fail = False
            return
        self._done = True

    def feed(self, data: bytes) -> Verdict | None:
        if not self._headers_complete:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                raise ProbeError("response head too large")
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise ProbeError("upgrade in a health check response") from None
        except httptools.HttpParserError as exc:
            raise ProbeError(f"bad response: {exc}") from None
        if self._body_bytes > MAX_BODY_BYTES and not self._done:
            # long enough: judge by the status and do not reuse the connection
            return self._verdict(keep_alive=False)
        if self._done:
            return self._verdict(keep_alive=self._keep_alive)
        return None

    def feed_eof(self) -> Verdict:
        """The peer closed: a close-delimited body ends here; anything else is a failure."""
        if self._headers_complete and not self._done:
            try:
                self._parser.feed_data(b"")
            except httptools.HttpParserError:
                pass
            return self._verdict(keep_alive=False)
        raise ProbeError("connection closed before a complete response")

    def _verdict(self, keep_alive):
        passed = status_expected(self._status, self._expected)
        return Verdict(passed=passed, status=self._status,
                       immediate_fail=self._immediate_fail and not passed,
                       keep_alive=keep_alive and passed)
