"""The health-check event log's lines, byte for byte as Envoy 1.40 writes them
(envoy.data.core.v3.HealthCheckEvent as JSON, fields in proto order, primitives always printed).

Seen from Envoy 1.40 (one line each):
  {"health_checker_type":"HTTP","host":{...},"cluster_name":"c",
   "eject_unhealthy_event":{"failure_type":"ACTIVE","http_status_code":503},
   "timestamp":"2026-12-06T03:48:04.868Z","locality":{"region":"","zone":"","sub_zone":""}}
  ... "add_healthy_event":{"first_check":true},"timestamp": ...
  ... "timestamp":"...","health_check_failure_event":{"failure_type":"NETWORK","first_check":true,
      "http_status_code":0}, ...
"""
from __future__ import annotations

import json
import time

_LOCALITY = {"region": "", "zone": "", "sub_zone": ""}


def timestamp(now: float) -> str:
    seconds = int(now)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((now - seconds) * 1000):03d}Z"


def event_line(event, checker_type: str, cluster_name: str, address: tuple[str, int], now: float) -> str:
    """One JSON line (with its newline) for ``event`` (state.Event) of the host at ``address``."""
    host = {"socket_address": {"protocol": "TCP", "address": address[0], "port_value": address[1],
                               "resolver_name": "", "ipv4_compat": False,
                               "network_namespace_filepath": ""}}
    line = {"health_checker_type": checker_type, "host": host, "cluster_name": cluster_name}
    if event.kind == "eject_unhealthy":
        line["eject_unhealthy_event"] = {"failure_type": event.failure_type,
                                         "http_status_code": event.http_status}
    elif event.kind == "add_healthy":
        line["add_healthy_event"] = {"first_check": event.first_check}
    line["timestamp"] = timestamp(now)
    if event.kind == "health_check_failure":
        line["health_check_failure_event"] = {"failure_type": event.failure_type,
                                              "first_check": event.first_check,
                                              "http_status_code": event.http_status}
    line["locality"] = _LOCALITY
    return json.dumps(line, separators=(",", ":")) + "\n"


class EventLog:
    """Appends lines to each configured file. The files are opened per line: the event log is
    rare, and logrotate can move the file at any time."""

    def __init__(self, paths):
        self.paths = tuple(paths)

    def __bool__(self):
        return bool(self.paths)

    def write(self, lines: str) -> None:
        for path in self.paths:
            try:
                with open(path, "a") as out:
                    out.write(lines)
            except OSError:
                pass   # Envoy does not stop checking over its event log either
