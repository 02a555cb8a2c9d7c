"""Access logs (envoy.config.accesslog.v3.AccessLog) of HTTP connection managers and TCP proxies:
where each writes, and its format."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogFormat:
    """envoy.config.core.v3.SubstitutionFormatString as access logs use it: ``text`` (printed as
    written, no newline added) or ``json`` (the json_format Struct as read from the config:
    nested dicts and lists of strings, numbers, booleans and nulls)."""
    text: str | None = None
    json: dict | None = None
    omit_empty_values: bool = False


@dataclass(frozen=True)
class AccessLog:
    """A FileAccessLog (``kind`` "file", with its ``path``), StdoutAccessLog ("stdout") or
    StderrAccessLog ("stderr"). ``log_format`` None: Envoy's default format."""
    kind: str
    path: str | None = None
    log_format: LogFormat | None = None
