"""Logging in Envoy's shape: ``[time][pid][level][component] message``."""
import logging
import sys

LEVELS = ("trace", "debug", "info", "warning", "warn", "error", "critical", "off")
_PYTHON_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
                  "warning": logging.WARNING, "warn": logging.WARNING, "error": logging.ERROR,
                  "critical": logging.CRITICAL, "off": logging.CRITICAL + 10}


def setup_logging(level="info", path=None):
    handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s.%(msecs)03d][%(process)d][%(levelname)s][%(name)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_PYTHON_LEVELS[level])
