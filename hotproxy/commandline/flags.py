"""Every flag of Envoy 1.40's command line (``envoy --help``), and hotproxy's own, as a table:
names, whether it takes a value, how the value is read, its default, what it means for hotproxy,
or why hotproxy refuses it.

A converter turns the text after the flag into the option's value and raises ValueError with
the reason when it cannot (Envoy's wording where Envoy has one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..process.log_format import ENVOY_DEFAULT_FORMAT
from ..process.logs import LEVELS, component_levels

DEFAULT_SOCKET_PATH = "@hotproxy"


@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]
    help: str
    metavar: str = ""               # the value's name in --help; "" for a switch
    convert: Callable[[str], object] = str
    default: object = None
    repeatable: bool = False        # each use adds a value to a list
    refused: str = ""               # why hotproxy refuses the flag, if it does

    @property
    def takes_value(self) -> bool:
        return bool(self.metavar)

    @property
    def dest(self) -> str:
        return self.names[-1].lstrip("-").replace("-", "_")


def switch(*names, help):
    return Flag(names, help, default=False)


def value(*names, metavar, help, convert=str, default=None, repeatable=False):
    return Flag(names, help, metavar, convert, default, repeatable)


def refused(*names, metavar="", reason):
    return Flag(names, "not supported: " + reason, metavar, refused=reason)


def uint32(text: str) -> int:
    if not re.fullmatch(r"\d+", text) or int(text) >= 1 << 32:
        raise ValueError(f"expects a whole number from 0 to {(1 << 32) - 1}, not '{text}'")
    return int(text)


def seconds(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"expects a number of seconds, not '{text}'")
    return int(number) if number.is_integer() else number


def one_of(*choices, reason="unknown value"):
    def convert(text):
        if text not in choices:
            raise ValueError(f"{reason} '{text}' (one of: {', '.join(choices)})")
        return text
    return convert


def component_log_levels(text: str) -> str:
    component_levels(text)      # raises ValueError
    return text


def octal_mode(text: str) -> int:
    if not re.fullmatch(r"[0-7]{1,4}", text):
        raise ValueError(f"invalid socket-mode '{text}' (octal permissions, e.g. 600)")
    return int(text, 8)


def stats_tag(text: str) -> tuple[str, str]:
    name, colon, tag_value = text.partition(":")
    if not colon:
        raise ValueError(f"misformatted stats-tag '{text}' (NAME:VALUE)")
    if not re.fullmatch(r"[A-Za-z0-9]+", name):
        raise ValueError(f"misformatted stats-tag '{text}' contains invalid char in '{name}'")
    if "." in tag_value:
        raise ValueError(f"misformatted stats-tag '{text}' contains invalid char in '{tag_value}'")
    return name, tag_value


NO_DYNAMIC_CONFIG = "accepted and shown in /server_info; hotproxy has no dynamic (xDS) configuration yet"

ENVOY_FLAGS = (
    # the configuration
    value("-c", "--config-path", metavar="PATH",
          help="the Envoy v3 bootstrap: YAML when it ends in .yaml or .yml, JSON otherwise (Envoy's rule)"),
    value("--config-yaml", metavar="YAML",
          help="YAML (or JSON) merged over -c as Envoy merges it (protobuf MergeFrom); alone, the "
               "whole configuration. Re-read with the file on every reload (SIGHUP)"),
    value("--mode", metavar="MODE", default="serve",
          convert=one_of("serve", "validate", "init_only", "diff", reason="unknown mode"),
          help="serve (default); validate: check the configuration, print OK or every problem, exit "
               "0 or 1, touching nothing; init_only: also take the hot-restart socket, bind every "
               "listener and the admin address, then release them and exit 0 without serving; "
               "diff (hotproxy's): check the configuration and print what a reload to it would "
               "change against the server at --against, exit 0 (no change), 1 (changes) or 2"),
    switch("--allow-unknown-static-fields",
           help="drop the fields Envoy's protos do not know, with a warning each (counted in "
                "server.static_unknown_fields), instead of refusing the configuration; fields "
                "hotproxy knows but does not support are still refused"),
    switch("--allow-unknown-fields", help="deprecated alias of --allow-unknown-static-fields"),
    switch("--reject-unknown-dynamic-fields", help=NO_DYNAMIC_CONFIG),
    switch("--ignore-unknown-dynamic-fields", help=NO_DYNAMIC_CONFIG),
    value("--service-cluster", metavar="NAME", default="",
          help="node.cluster, over the configuration's"),
    value("--service-node", metavar="NAME", default="", help="node.id, over the configuration's"),
    value("--service-zone", metavar="NAME", default="",
          help="node.locality.zone, shown in /server_info"),
    value("--local-address-ip-version", metavar="v4|v6", default="v4",
          convert=one_of("v4", "v6", reason="unknown IP address version"),
          help="checked and shown in /server_info: Envoy takes the server's own address in this "
               "family (for pipe connections' XFF and tracing), which hotproxy has no use for"),
    value("--stats-tag", metavar="NAME:VALUE", convert=stats_tag, repeatable=True,
          help="a tag on every stat (a Prometheus label), as a stats_config.stats_tags "
               "fixed_value; repeatable"),
    value("--admin-address-path", metavar="PATH",
          help="write the admin interface's address (ADDRESS:PORT) here once it listens"),
    refused("--disable-extensions", metavar="LIST",
            reason="hotproxy's extensions cannot be disabled; leave them out of the configuration"),
    # processes
    value("--concurrency", metavar="N", convert=uint32,
          help="worker processes (default: one per hardware thread; 0 runs one)"),
    switch("--cpuset-threads",
           help="without --concurrency, one worker per CPU of this process's cpuset"),
    value("--drain-time-s", metavar="S", convert=seconds, default=600,
          help="after a reload or a hot restart, connections that cannot move to the new "
               "generation close within this time (default: 600; decimals allowed)"),
    value("--drain-strategy", metavar="STRATEGY", default="gradual",
          convert=one_of("gradual", "immediate", reason="unknown drain-strategy"),
          help="gradual (default): those connections close at times spread over the drain time; "
               "immediate: all at once"),
    value("--parent-shutdown-time-s", metavar="S", convert=seconds, default=900,
          help="a draining generation or epoch is stopped this long after it started draining, "
               "whatever it still serves (default: 900; decimals allowed)"),
    switch("--enable-core-dump",
           help="raise RLIMIT_CORE to its hard limit and set PR_SET_DUMPABLE, for every process"),
    refused("--enable-mutex-tracing",
            reason="hotproxy's workers are processes that share no mutex; there is no /contention"),
    # hot restart
    value("--restart-epoch", metavar="E", convert=uint32, default=0,
          help="hot restart: epoch 0 binds its listeners; epoch E>0 takes them, the admin port "
               "and the counters over from the running epoch E-1, then tells it to drain"),
    value("--base-id", metavar="B", convert=uint32, default=0,
          help="separates hotproxy instances on one host: epochs meet at the socket "
               "SOCKET-PATH.B.E (default: 0)"),
    switch("--use-dynamic-base-id",
           help="choose a base id no other instance uses (not with --restart-epoch above 0)"),
    value("--base-id-path", metavar="PATH", help="write the base id here (for the next epoch)"),
    value("--socket-path", metavar="PATH", default=DEFAULT_SOCKET_PATH,
          help="where epochs meet: an abstract Unix socket name when it starts with @ (default: "
               "@hotproxy), else a filesystem path prefix; epoch E listens at PATH.BASE-ID.E"),
    value("--socket-mode", metavar="MODE", convert=octal_mode, default=0o600,
          help="permissions of a filesystem --socket-path, octal (default: 600)"),
    switch("--disable-hot-restart",
           help="no rendezvous socket: SIGUSR2 and --restart-epoch above 0 are refused"),
    switch("--hot-restart-version",
           help="print the hot restart protocol version (\"disabled\" with --disable-hot-restart) "
                "and exit"),
    switch("--skip-hot-restart-on-no-parent",
           help="hotproxy always does this: an epoch whose parent is not running starts as a "
                "first epoch would"),
    switch("--skip-hot-restart-parent-stats",
           help="a new epoch starts its stats at zero instead of taking the running epoch's"),
    # logging
    value("-l", "--log-level", metavar="LEVEL", default="info",
          convert=one_of(*LEVELS, reason="invalid log level specified"),
          help=f"{', '.join(LEVELS)} (default: info)"),
    value("--component-log-level", metavar="LIST", default="", convert=component_log_levels,
          help="levels per logger, e.g. upstream:debug,config:trace: Envoy's logger names (those "
               "of subsystems hotproxy lacks change nothing) or hotproxy's (/logging)"),
    value("--log-format", metavar="FORMAT", default=ENVOY_DEFAULT_FORMAT,
          help=f"spdlog flags, with Envoy's %_ %j (default: \"{ENVOY_DEFAULT_FORMAT}\"; %t is the "
               "process id, %n the component, %g the Python source file)"),
    switch("--log-format-escaped",
           help="escape C-style escape sequences in each log line (one line per entry)"),
    value("--log-path", metavar="PATH",
          help="log to this file instead of stderr; it is reopened when logrotate moves it"),
    refused("--enable-fine-grain-logging",
            reason="hotproxy sets log levels per component, not per source file"),
    switch("--log-stacktrace-single-entry",
           help="hotproxy always does this: a Python traceback is one log entry"),
    switch("--skip-deprecated-logs",
           help="hotproxy logs no deprecated-field warnings, so there are none to skip"),
    # access logs
    value("--file-flush-interval-msec", metavar="MS", convert=uint32, default=1000,
          help="the flusher writes buffered access-log lines at least this often (default: "
               "1000; Envoy's is 10000)"),
    value("--file-flush-min-size-kb", metavar="KB", convert=uint32, default=64,
          help="and as soon as a file has this much buffered (default: 64)"),
    switch("--version", help="print the version and exit"),
    switch("-h", "--help", help="print this help and exit"),
)

HOTPROXY_FLAGS = (
    value("--max-draining-generations", metavar="N", convert=uint32, default=8,
          help="more draining generations than this stops the oldest (default: 8)"),
    value("--pid-file", metavar="PATH", help="write the serving arbiter's PID here"),
    value("--against", metavar="ADMIN_URL",
          help="--mode diff: the running server's admin address (http://127.0.0.1:9901)"),
)

#: ``--`` and ``--ignore_rest``: Envoy ignores every argument after them.
END_OF_FLAGS = ("--", "--ignore_rest")
