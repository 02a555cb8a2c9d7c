"""The access logs of one HTTP connection manager or TCP proxy, compiled from its config."""
from __future__ import annotations

from .format import compile_format


class AccessLoggers:
    """``log(info)`` formats ``info`` once per configured log and queues each line on the sink."""

    def __init__(self, configs, sink, tcp, where=""):
        self.sink = sink
        self._logs = []
        for index, config in enumerate(configs):
            destination = config.path if config.kind == "file" else config.kind
            formatter = compile_format(config.log_format, f"{where}access_log[{index}]", tcp)
            self._logs.append((destination, formatter.format))
        if len(self._logs) == 1 and sink is not None:
            self.log = sink.logger(*self._logs[0])

    def __bool__(self):
        return bool(self._logs) and self.sink is not None

    def log(self, info):
        for destination, format_line in self._logs:
            self.sink.log(destination, format_line(info))

