"""Logging as Envoy's command line sets it up: ``-l`` with Envoy's level names, ``--log-format``
(spdlog flags, process/log_format.py), ``--log-format-escaped``, ``--component-log-level`` with
Envoy's logger names mapped onto hotproxy's components, ``--log-path``. ``LogOptions`` carries
these to every child process, so that the arbiter, the workers and the flusher log alike."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from dataclasses import dataclass
from logging.handlers import WatchedFileHandler

from .log_format import ENVOY_DEFAULT_FORMAT, LogLine, c_escape, compile_pattern, render

LEVELS = ("trace", "debug", "info", "warning", "warn", "error", "critical", "off")
_PYTHON_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
                  "warning": logging.WARNING, "warn": logging.WARNING, "error": logging.ERROR,
                  "critical": logging.CRITICAL, "off": logging.CRITICAL + 10}
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
                logging.ERROR: "error", logging.CRITICAL: "critical", logging.CRITICAL + 10: "off"}

#: The components /logging lists and changes, one per subsystem (the loggers hotproxy.<name>).
COMPONENTS = ("accesslog", "admin", "arbiter", "config", "http", "listener", "network", "process",
              "stats", "upstream")

#: Envoy 1.40's logger names (its /logging list) → the hotproxy components that log what they
#: log. Names of subsystems hotproxy does not have map to nothing: accepted, changing nothing.
ENVOY_COMPONENTS = {
    "admin": ("admin",), "client": ("upstream",), "config": ("config",),
    "conn_handler": ("listener",), "connection": ("listener", "network"), "dns": ("upstream",),
    "file": ("accesslog",), "filter": ("http",), "hc": ("upstream",),
    "health_checker": ("upstream",), "http": ("http",), "http2": ("http",),
    "local_rate_limit": ("http",), "main": ("arbiter", "process"), "pool": ("upstream",),
    "rbac": ("http",), "router": ("http",), "stats": ("stats",), "upstream": ("upstream",),
    "websocket": ("http",),
    **{name: () for name in (
        "a2a ai_protocol_manager alternate_protocols_cache aws assert backtrace basic_auth "
        "cache_filter compression credential_injector decompression dubbo envoy_bug ext_authz "
        "ext_proc rocketmq forward_proxy geolocation grpc happy_eyeballs hystrix init io jwt "
        "json_rpc kafka key_value_store lua matcher mcp misc mongo multi_connection notification "
        "oauth2 quic quic_stream rate_limit_quota rds redis runtime secret sse tap testing thrift "
        "tracing udp wasm golang stats_sinks dynamic_modules ip_tagging").split()},
}

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def component_levels(text: str) -> list[tuple[str, str]]:
    """``--component-log-level upstream:debug,misc:error`` as (hotproxy component, level) pairs,
    in order. Raises ValueError with Envoy's reasons."""
    pairs = []
    for item in text.split(",") if text else ():
        name, colon, level = item.partition(":")
        if not colon or ":" in level:
            raise ValueError(f"component log level not correctly specified '{item}'")
        if level not in LEVELS:
            raise ValueError(f"invalid log level specified '{level}'")
        if name in COMPONENTS:
            pairs.append((name, level))
        elif name in ENVOY_COMPONENTS:
            pairs += [(component, level) for component in ENVOY_COMPONENTS[name]]
        else:
            raise ValueError(f"invalid component specified '{name}'")
    return pairs


@dataclass(frozen=True)
class LogOptions:
    level: str = "info"
    path: str | None = None
    format: str = ENVOY_DEFAULT_FORMAT
    escaped: bool = False
    component_levels: str = ""      # as given: "upstream:debug,misc:error"

    def argv(self) -> list[str]:
        """The flags that give a child process these options (``--x=value``: a value may
        start with a dash)."""
        argv = [f"--log-level={self.level}", f"--log-format={self.format}",
                f"--component-log-level={self.component_levels}"]
        if self.path:
            argv.append(f"--log-path={self.path}")
        if self.escaped:
            argv.append("--log-format-escaped")
        return argv

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """What ``argv`` writes, for a child's own parser."""
        parser.add_argument("-l", "--log-level", default="info")
        parser.add_argument("--log-path")
        parser.add_argument("--log-format", default=ENVOY_DEFAULT_FORMAT)
        parser.add_argument("--log-format-escaped", action="store_true")
        parser.add_argument("--component-log-level", default="")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LogOptions:
        return cls(args.log_level, args.log_path, args.log_format, args.log_format_escaped,
                   args.component_log_level)


class EnvoyFormatter(logging.Formatter):
    """A Python log record laid out by an spdlog pattern."""

    def __init__(self, pattern: str, escaped: bool = False):
        super().__init__()
        self.pieces = compile_pattern(pattern)
        self.escaped = escaped
        self._previous = 0.0

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        path = record.pathname
        if path.startswith(_SOURCE_ROOT + os.sep):
            path = path[len(_SOURCE_ROOT) + 1:]
        line = LogLine(record.created, _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
                       _component(record.name), message, record.process, threading.get_native_id(),
                       path, record.lineno, record.funcName)
        text = render(self.pieces, line, self._previous)
        self._previous = record.created
        return c_escape(text) if self.escaped else text


def _component(logger_name: str) -> str:
    """%n: the component a logger belongs to; the command line's own logger is Envoy's main."""
    if logger_name == "hotproxy":
        return "main"
    if logger_name.startswith("hotproxy."):
        return logger_name.split(".")[1]
    return logger_name


def setup_logging(options: LogOptions = LogOptions()) -> None:
    """Raises OSError when the log file cannot be opened."""
    # WatchedFileHandler reopens a file that logrotate moved away: every process writes the same
    # --log-path, and none of them needs a signal for it.
    handler = WatchedFileHandler(options.path) if options.path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(EnvoyFormatter(options.format, options.escaped))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_PYTHON_LEVELS[options.level])
    for component, level in component_levels(options.component_levels):
        logging.getLogger(f"hotproxy.{component}").setLevel(_PYTHON_LEVELS[level])


def logs_to_file() -> bool:
    return any(isinstance(handler, logging.FileHandler) for handler in logging.getLogger().handlers)


def set_level(level, component=None):
    """Set one component's level, or every component's (and the default) when None."""
    python_level = _PYTHON_LEVELS[level]
    if component is None:
        logging.getLogger().setLevel(python_level)
        for name in COMPONENTS:
            logging.getLogger(f"hotproxy.{name}").setLevel(python_level)
    else:
        logging.getLogger(f"hotproxy.{component}").setLevel(python_level)


def levels():
    """``{component: level name}`` as they are now."""
    return {name: _LEVEL_NAMES.get(logging.getLogger(f"hotproxy.{name}").getEffectiveLevel(), "info")
            for name in COMPONENTS}
