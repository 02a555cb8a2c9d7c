"""Loading the operator's Python filter class, and checking that it loads before a config is
accepted.

A worker loads the class when it builds its filters (``load``), then constructs it once with the
``config`` map (``construct``). The arbiter never imports operator code: ``check`` runs
``python -m hotproxy.http.filters.python_loader`` — a fresh interpreter started as the workers
are (same executable, working directory and environment, hence the same sys.path), that loads
and constructs every Python filter of a config and says what failed, each problem with the
file:line it came from. So ``--mode validate``, startup and every SIGHUP reload refuse a module
that does not import, and a reload sees the module as it is on disk now.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import traceback

from ...config.http_filters.python import thawed

CHECK_TIMEOUT_S = 60.0
# frames of importlib and of hotproxy itself are not where an operator's error is
_OWN_FILES = (os.path.dirname(importlib.__file__),
              os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep)


class LoadError(Exception):
    """What went wrong loading one filter: ``field`` is the typed_config field to blame
    (module, path, class or config), ``reason`` names the module and the file:line."""

    def __init__(self, field, reason):
        super().__init__(reason)
        self.field = field
        self.reason = reason


def load(config):
    """The class ``config`` (config/http_filters/python.py ``Python``) names. Raises LoadError."""
    field = "module" if config.module is not None else "path"
    try:
        module = _import_module(config) if config.module is not None else _import_file(config.path)
    except LoadError:
        raise
    except BaseException as error:   # noqa: B036 - a module may sys.exit() or raise anything
        raise LoadError(field, f"importing {config.source} raised {_described(error)}") from None
    cls = getattr(module, config.class_name, None)
    if cls is None:
        raise LoadError("class", f"{_where(config, module)} has no class '{config.class_name}'")
    if not isinstance(cls, type):
        raise LoadError("class", f"{config.class_name} in {_where(config, module)} is not a "
                                 f"class but a {type(cls).__name__}")
    return cls


def construct(cls, config):
    """``cls(config map)``, the factory-level instance. Raises LoadError."""
    try:
        return cls(thawed(config.config))
    except BaseException as error:   # noqa: B036
        raise LoadError("class", f"{config.class_name}(config) of {config.source} raised "
                                 f"{_described(error)}") from None


def _import_module(config):
    try:
        return importlib.import_module(config.module)
    except ModuleNotFoundError as error:
        # The named module itself (or its package) is missing; a missing import inside it is
        # reported with its line like any other exception.
        if error.name and (config.module == error.name or config.module.startswith(error.name + ".")):
            raise LoadError("module", f"no module named '{error.name}' on the workers' sys.path "
                                      f"(working directory {os.getcwd()})") from None
        raise


def _import_file(path):
    if not os.path.isfile(path):
        raise LoadError("path", f"{path}: no such file (working directory {os.getcwd()})")
    absolute = os.path.abspath(path)
    # One module name per file, so that two filters from two files never meet in sys.modules.
    digest = hashlib.sha1(absolute.encode()).hexdigest()[:12]
    name = f"hotproxy_python_filter_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, absolute)
    if spec is None:
        raise LoadError("path", f"{path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module      # dataclasses and pickle look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _described(error):
    """``ValueError: message (file:line)``: the innermost frame of the operator's code."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not frame.filename.startswith("<") and not frame.filename.startswith(_OWN_FILES)]
    if isinstance(error, SyntaxError) and error.filename:
        return f"{text} ({error.filename}:{error.lineno})"
    if frames:
        return f"{text} ({frames[-1].filename}:{frames[-1].lineno})"
    return text


def _where(config, module):
    """The path, or the module with its file."""
    if config.path is not None:
        return config.path
    return f"{config.module} ({getattr(module, '__file__', None) or 'no file'})"


# -- the check, run in a fresh interpreter -------------------------------------------------------

def check(filters):
    """Problems (field path, reason) of loading and constructing each of ``filters``: pairs of
    (path of the typed_config, Python config). Empty when all load."""
    if not filters:
        return []
    request = json.dumps([{"at": at, "module": config.module, "path": config.path,
                           "class": config.class_name, "config": thawed(config.config)}
                          for at, config in filters])
    from gevent import subprocess      # cooperative in the arbiter, plain in --mode validate
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=request.encode(),
                              stdout=subprocess.PIPE, timeout=CHECK_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return [(at + "module" if config.module is not None else at + "path",
                 f"loading the Python filters took more than {CHECK_TIMEOUT_S:g} s")
                for at, config in filters]
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        return [tuple(problem) for problem in json.loads(lines[-1])]
    except (IndexError, ValueError):
        return [(filters[0][0] + "module", f"the Python filter check exited with {done.returncode} "
                                           "without an answer")]


def _check_all(request):
    from ...config.http_filters.python import Python, frozen
    problems = []
    for entry in request:
        config = Python(class_name=entry["class"], module=entry["module"], path=entry["path"],
                        config=frozen(entry["config"]))
        try:
            construct(load(config), config)
        except LoadError as error:
            problems.append((entry["at"] + error.field, error.reason))
    return problems


def main():
    request = json.loads(sys.stdin.read())
    # Operator code printing at import must not garble the answer, the last line of stdout.
    with contextlib.redirect_stdout(sys.stderr):
        problems = _check_all(request)
    sys.stdout.write("\n" + json.dumps(problems) + "\n")
    sys.stdout.flush()
    os._exit(0)     # no atexit or non-daemon thread of operator code holds the answer up


if __name__ == "__main__":
    main()
