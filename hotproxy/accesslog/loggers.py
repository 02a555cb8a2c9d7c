"""The access logs of one HTTP connection manager or TCP proxy, compiled from its config."""
from __future__ import annotations

from .format import compile_format

#: The facts a stream's end (http/stream_log.py) adds to its StreamInfo only when a format reads
#: them (the default format reads none of them).
ON_DEMAND_FACTS = frozenset({
    "scheme", "downstream_tls", "downstream_remote_address", "downstream_direct_remote_address",
    "downstream_local_address", "downstream_direct_local_address", "first_upstream_rx_ms",
    "upstream_cluster", "upstream_request_attempt_count", "route_name"})


class AccessLoggers:
    """``log(info)`` formats ``info`` once per configured log and queues each line on the sink.
    ``every_fact``: whether a format may read one of the ON_DEMAND_FACTS."""

    def __init__(self, configs, sink, tcp, where=""):
        self.sink = sink
        self._logs = []
        self.every_fact = False
        for index, config in enumerate(configs):
            destination = config.path if config.kind == "file" else config.kind
            formatter = compile_format(config.log_format, f"{where}access_log[{index}]", tcp)
            self._logs.append((destination, formatter.format))
            if formatter.facts is None or formatter.facts & ON_DEMAND_FACTS:
                self.every_fact = True
        self._loggers = [sink.logger(*log) for log in self._logs] if sink is not None else []
        if len(self._loggers) == 1:
            self.log = self._loggers[0]

    def __bool__(self):
        return bool(self._logs) and self.sink is not None

    def log(self, info):
        for log in self._loggers:
            log(info)

