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

#: The components /logging lists and changes, one per subsystem (Envoy's logger ids).
COMPONENTS = ("accesslog", "admin", "arbiter", "config", "http", "listener", "network", "process",
              "stats", "upstream")
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
                logging.ERROR: "error", logging.CRITICAL: "critical", logging.CRITICAL + 10: "off"}


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
