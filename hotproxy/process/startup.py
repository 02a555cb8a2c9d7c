"""How an arbiter's startup ends when it does not go on to serve: a failure, reported with what
failed and why (the listener by name and address, the file, the hot restart socket) before any
worker starts; or ``--mode init_only``'s exit once everything serving needs is set up."""
from __future__ import annotations

import logging
import sys

from ..errors import ConfigError
from .logs import logs_to_file


def describe(error: Exception, config_name: str) -> str:
    if isinstance(error, ConfigError):
        if all(not path for path, _reason in error.problems):
            return str(error)       # "cannot read 'x.yaml': No such file or directory"
        return f"invalid configuration '{config_name}':\n{error}"
    if isinstance(error, OSError) and error.strerror:
        # the arbiter's own OSErrors carry the whole story in strerror; "[Errno 98]" adds nothing
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)


def report_failure(logger: logging.Logger, message: str) -> None:
    """Logged, and on stderr too when the log would not show it there (--log-path, -l
    critical or off): a failure to start must never go unseen."""
    logger.error("%s", message)
    if logs_to_file() or not logger.isEnabledFor(logging.ERROR):
        print(f"hotproxy: {message}", file=sys.stderr, flush=True)


def finish_init_only(admin, sockets, hot_restart) -> int:
    """Envoy's --mode init_only: the config was read, the hot-restart socket taken, every
    listening socket and the admin address bound, and no process started. Release it all:
    ``admin`` (AdminPort), ``sockets`` (ListenSockets), ``hot_restart`` (HotRestart)."""
    admin.stop()
    sockets.close_all()
    hot_restart.close()
    hot_restart.abandon()
    logging.getLogger("hotproxy.arbiter").info("init_only: initialised; exiting without serving")
    return 0
