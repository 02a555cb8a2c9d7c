"""A listener's reload probe opt-in (config/reload_probe.py): metadata Envoy accepts and ignores,
read by hotproxy with every problem at its field path."""
import pytest

from config_helpers import LISTENER, Rejected, parse_with
from hotproxy.process.reload_probe import parse_answer

AT = f"{LISTENER}.metadata.filter_metadata.hotproxy.reload_probe"


def probe_of(settings):
    return parse_with({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": settings}}}
                      ).listeners[0].reload_probe


def test_defaults_and_a_single_status():
    probe = probe_of({"path": "/healthz"})
    assert (probe.path, probe.host, probe.timeout, probe.expected()) == ("/healthz", "localhost", 5.0, "200-299")
    assert probe.accepts(204) and not probe.accepts(301)
    exact = probe_of({"path": "/ready", "host": "probe.local", "expected_status": 204, "timeout": "0.5s"})
    assert (exact.host, exact.timeout, exact.expected()) == ("probe.local", 0.5, "204")
    assert exact.accepts(204) and not exact.accepts(200)


def test_a_status_range_excludes_its_end():
    probe = probe_of({"path": "/", "expected_status": {"start": 200, "end": 400}})
    assert probe.accepts(399) and not probe.accepts(400) and probe.expected() == "200-399"


def test_other_metadata_is_accepted_and_no_probe_is_made():
    listener = parse_with({f"{LISTENER}.metadata": {"filter_metadata": {"istio": {"config": "x"}}}}).listeners[0]
    assert listener.reload_probe is None


@pytest.mark.parametrize("case", [
    Rejected({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": {}}}},
             f"{AT}.path", "required field is missing"),
    Rejected({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": {"path": "x"}}}},
             f"{AT}.path", "must start with '/'"),
    Rejected({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": {
        "path": "/", "expected_status": 700}}}}, f"{AT}.expected_status", "between 100 and 599"),
    Rejected({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": {
        "path": "/", "expected_status": {"start": 300, "end": 300}}}}},
        f"{AT}.expected_status", "end (300) must be greater than start (300)"),
    Rejected({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": {
        "path": "/", "timeout": "0s"}}}}, f"{AT}.timeout", "must be greater than 0"),
    Rejected({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": {
        "path": "/", "tls": True}}}}, f"{AT}.tls", "unknown field"),
    Rejected({f"{LISTENER}.metadata": {"filter_metadata": {"hotproxy.reload_probe": {
        "path": "/", "host": "a\r\nb"}}}}, f"{AT}.host", "must not contain NUL, CR or LF"),
    Rejected({"static_resources.listeners[1].metadata": {"filter_metadata": {"hotproxy.reload_probe": {
        "path": "/"}}}}, "static_resources.listeners[1].metadata", "needs an HTTP listener"),
], ids=lambda case: case.at.rsplit(".", 1)[-1] + ":" + case.reason)
def test_bad_probe_settings_are_refused_at_their_path(case):
    case.check()


def test_a_probe_answer_is_read_for_its_status_and_first_body_line():
    assert parse_answer(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 19\r\n\r\nno healthy upstream") == (
        503, "no healthy upstream")
    assert parse_answer(b"HTTP/1.1 200 OK\r\n\r\n") == (200, "")
    assert parse_answer(b"SSH-2.0-OpenSSH\r\n") == (None, "")
    assert parse_answer(b"") == (None, "")
