"""``hotproxy``: Envoy's command line (hotproxy/commandline/ holds the flag table).

``hotproxy -c envoy.yaml`` starts the arbiter and its workers; ``hotproxy --mode validate -c
envoy.yaml`` checks the config and exits 0 (printing OK) or 1 (printing every problem with its
field path). Every other failure to start is one line naming what failed, and exit status 1.
``hotproxy --mode diff -c new.yaml --against http://127.0.0.1:9901`` prints what a reload to
new.yaml would change on that server (commandline/diff_mode.py).
"""
from __future__ import annotations

import logging
import os
import sys

from .commandline.parse import UsageError, parse
from .commandline.text import help_text, version_text
from .errors import ConfigError
from .process.core_dump import enable_core_dumps
from .process.hotrestart.version import VERSION as HOT_RESTART_VERSION
from .process.logs import setup_logging
from .process.validate import ConfigReader

log = logging.getLogger("hotproxy")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse(argv)
    except UsageError as error:
        return _fail(str(error))
    if options.help:
        print(help_text(), end="")
        return 0
    if options.version:
        print(version_text(), end="")
        return 0
    if options.hot_restart_version:
        print(_hot_restart_version(options))
        return 0
    problem = _unwritable("--pid-file", options.pid_file)
    if problem:
        return _fail(problem)
    try:
        setup_logging(options.log_options())
    except OSError as exc:
        return _fail(f"--log-path {options.log_path}: cannot open: {exc.strerror}")
    if options.enable_core_dump:
        log.info("core dumps enabled (RLIMIT_CORE %s)", enable_core_dumps())
    if options.mode == "validate":
        return _validate(options)
    if options.mode == "diff":
        from .commandline.diff_mode import run_diff
        return run_diff(options)
    from .process.arbiter import Arbiter
    return Arbiter(options).run()


def _fail(message):
    print(f"hotproxy: {message}", file=sys.stderr)
    return 1


def _validate(options):
    """Envoy's --mode validate: no socket, no hot restart, no other process disturbed."""
    source = options.config_source()
    try:
        ConfigReader(source).read()
    except ConfigError as error:
        print(f"hotproxy: invalid configuration '{source.name}':\n{error}", file=sys.stderr)
        return 1
    print(f"configuration '{source.name}' OK")
    print(f"hot restart version: {_hot_restart_version(options)}")
    return 0


def _hot_restart_version(options):
    return "disabled" if options.disable_hot_restart else HOT_RESTART_VERSION


def _unwritable(flag, path):
    """Why a file written only once the workers serve could not be written then, or None."""
    if not path:
        return None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"{flag} {path}: no such directory {directory}"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"{flag} {path}: cannot write in {directory}"
    return None
