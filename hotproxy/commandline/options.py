"""The parsed command line: one attribute per flag (named as the flag, ``drain_time_s``), and what
the processes take from it: the config source, the logging options, the command line a
successor epoch runs, and the ``command_line_options`` /server_info shows as Envoy does."""
from __future__ import annotations

import os

from ..process.logs import LogOptions
from ..process.validate import ConfigSource

# Flags a successor epoch must not inherit: it gets the running epoch's own.
_EPOCH_FLAGS = ("--restart-epoch", "--base-id")
_EPOCH_SWITCHES = ("--use-dynamic-base-id",)


class Options:
    def __init__(self, values: dict, given: set, argv: list[str]):
        self.__dict__.update(values)
        self.given = frozenset(given)
        self.argv = list(argv)
        self.concurrency = self._concurrency()
        self.allow_unknown_static_fields = self.allow_unknown_static_fields or self.allow_unknown_fields

    def _concurrency(self) -> int:
        if "concurrency" in self.given:
            return max(self.concurrency, 1)     # Envoy runs one worker for 0
        if self.cpuset_threads:
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1

    @property
    def socket_is_abstract(self) -> bool:
        return self.socket_path.startswith("@")

    def config_source(self) -> ConfigSource:
        return ConfigSource(self.config_path, self.config_yaml, self.allow_unknown_static_fields,
                            self.service_node, self.service_cluster, tuple(self.stats_tag))

    def log_options(self) -> LogOptions:
        return LogOptions(self.log_level, self.log_path, self.log_format, self.log_format_escaped,
                          self.component_log_level)

    @property
    def argv_without_epoch(self) -> list[str]:
        """The command line less the flags that name an epoch and its base id, for a successor
        to add its own."""
        out, skip = [], False
        for arg in self.argv:
            name = arg.partition("=")[0]
            if skip:
                skip = False
            elif arg in _EPOCH_FLAGS:
                skip = True
            elif name not in _EPOCH_FLAGS + _EPOCH_SWITCHES:
                out.append(arg)
        return out

    def command_line_options(self, concurrency: int, base_id: int) -> dict:
        """Envoy's /server_info ``command_line_options`` (proto3 JSON: 64-bit integers as strings,
        durations as "1.5s"), and hotproxy's own flags."""
        return {
            "base_id": str(base_id), "use_dynamic_base_id": self.use_dynamic_base_id,
            "base_id_path": self.base_id_path or "", "concurrency": concurrency,
            "config_path": self.config_path or "", "config_yaml": self.config_yaml or "",
            "allow_unknown_static_fields": self.allow_unknown_static_fields,
            "reject_unknown_dynamic_fields": self.reject_unknown_dynamic_fields,
            "ignore_unknown_dynamic_fields": self.ignore_unknown_dynamic_fields,
            "admin_address_path": self.admin_address_path or "",
            "local_address_ip_version": self.local_address_ip_version,
            "log_level": "warning" if self.log_level == "warn" else self.log_level,
            "component_log_level": self.component_log_level, "log_format": self.log_format,
            "log_format_escaped": self.log_format_escaped, "enable_fine_grain_logging": False,
            "log_path": self.log_path or "", "service_cluster": self.service_cluster,
            "service_node": self.service_node, "service_zone": self.service_zone,
            "mode": {"serve": "Serve", "validate": "Validate", "init_only": "InitOnly", "diff": "Diff"}[self.mode],
            "file_flush_interval": _duration(self.file_flush_interval_msec / 1000),
            "file_flush_min_size": self.file_flush_min_size_kb * 1024,
            "drain_time": _duration(self.drain_time_s),
            "drain_strategy": self.drain_strategy.capitalize(),
            "parent_shutdown_time": _duration(self.parent_shutdown_time_s),
            "disable_hot_restart": self.disable_hot_restart, "enable_mutex_tracing": False,
            "cpuset_threads": self.cpuset_threads, "restart_epoch": self.restart_epoch,
            "disabled_extensions": [], "socket_path": self.socket_path,
            "socket_mode": 0 if self.socket_is_abstract else self.socket_mode,
            "enable_core_dump": self.enable_core_dump,
            "stats_tag": [f"{name}:{value}" for name, value in self.stats_tag],
            "skip_hot_restart_on_no_parent": self.skip_hot_restart_on_no_parent,
            "skip_hot_restart_parent_stats": self.skip_hot_restart_parent_stats,
            "skip_deprecated_logs": self.skip_deprecated_logs,
            "log_stacktrace_single_entry": self.log_stacktrace_single_entry,
            "max_draining_generations": self.max_draining_generations,
            "pid_file": self.pid_file or "",
        }


def _duration(seconds: float) -> str:
    """proto3 JSON for a Duration: "600s", "1.500s"."""
    nanos = round(seconds * 1e9)
    whole, fraction = divmod(nanos, 10**9)
    if not fraction:
        return f"{whole}s"
    for digits in (3, 6, 9):
        if fraction % 10 ** (9 - digits) == 0:
            return f"{whole}.{fraction // 10 ** (9 - digits):0{digits}d}s"
