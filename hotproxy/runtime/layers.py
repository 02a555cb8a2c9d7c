"""The layers of a layered runtime. Each holds ``entries``: key → (text, value), the text being
what /runtime shows and the value what readers type (values.py).

- ``StaticLayer``: the bootstrap's static_layer, flattened (config/runtime.py).
- ``DiskLayer``: a directory tree, each file a key (its path's components joined with dots), its
  content the value's text; read through ``symlink_root``, which is swapped to publish a new
  tree. ``present`` is False while the directory does not exist or could not be read: Envoy then
  leaves the layer out of the runtime (and of /runtime's ``layers``).
- ``AdminLayer``: what /runtime_modify sets; an empty value removes the key.
- ``RtdsLayer``: what the last RTDS update of its resource set (a Struct, flattened as the
  static layer's).
"""
from __future__ import annotations

import os

from ..config.runtime import flatten
from .values import RuntimeValueError, load_text, render

#: Envoy's DiskLayer::walkDirectory gives up below this many directory levels.
MAX_WALK_DEPTH = 16
_TRAILING_SPACE = " \t\f\v\n\r"


class StaticLayer:
    present = True

    def __init__(self, name, values=()):
        """``values``: (dotted key, value) pairs, the first of a repeated key winning."""
        self.name = name
        self.entries = {}
        for key, value in values:
            self.entries.setdefault(key, (render(value), value))


class AdminLayer:
    present = True

    def __init__(self, name):
        self.name = name
        self.entries = {}

    def merge(self, values) -> bool:
        """Set each key to its text; an empty text removes the key. Every text is read first:
        one that is not YAML raises RuntimeValueError and nothing changes. True when the
        layer's entries changed."""
        read = {key: (text, load_text(text)) for key, text in values.items() if text != ""}
        before = dict(self.entries)
        for key, text in values.items():
            if text == "":
                self.entries.pop(key, None)
            else:
                self.entries[key] = read[key]
        return self.entries != before


class RtdsLayer:
    present = True

    def __init__(self, name, resource_name):
        self.name = name
        self.resource_name = resource_name
        self.entries = {}

    def set(self, values: dict) -> bool:
        """Replace the layer with an RTDS update's Struct (a mapping). A list or null value
        raises RuntimeValueError (Envoy's message) and nothing changes. True when it changed."""
        pairs, invalid = flatten(values or {})
        if invalid:
            raise RuntimeValueError(f"Invalid runtime entry value for {invalid[0][0]}")
        entries = {}
        for key, value in pairs:
            entries.setdefault(key, (render(value), value))
        changed = entries != self.entries
        self.entries = entries
        return changed


class DiskLayer:
    """A disk layer. ``reload()`` reads the tree again; ``swapped()`` tells, cheaply, whether
    ``symlink_root`` was replaced since the last read (the swap that publishes a new tree), so
    that a poller can call ``reload()`` only then.

    A read is atomic with respect to that swap: the symlink is resolved once and the whole tree
    read from where it pointed, so one read never mixes two trees."""

    def __init__(self, name, symlink_root, subdirectory="", append_service_cluster=False,
                 service_cluster=""):
        self.name = name
        self.symlink_root = symlink_root
        self.subdirectory = subdirectory
        self.append_service_cluster = append_service_cluster
        self.service_cluster = service_cluster
        self.entries = {}
        self.present = False
        #: why the last read failed (the layer is left out), else None
        self.error = None
        self._seen = None       # symlink_root's identity at the last read

    @property
    def path(self) -> str:
        """Where Envoy reads the layer: ``<symlink_root>/<subdirectory>[/<service cluster>]``."""
        return self._path_under(self.symlink_root)

    def _path_under(self, root) -> str:
        path = f"{root}/{self.subdirectory}"
        return f"{path}/{self.service_cluster}" if self.append_service_cluster else path

    def swapped(self) -> bool:
        return _identity(self.symlink_root) != self._seen

    def reload(self) -> bool:
        """Read the tree again. True when what the layer holds (its entries, or whether it is
        present) changed."""
        before = (self.present, self.entries)
        self._seen = _identity(self.symlink_root)
        path = self._path_under(os.path.realpath(self.symlink_root))
        self.error = None
        if not os.path.isdir(path):
            self.present, self.entries = False, {}
        else:
            try:
                entries = {}
                _walk(path, "", 1, entries)
            except (OSError, UnicodeDecodeError, RuntimeValueError) as error:
                self.error = f"{path}: {error}"
                self.present, self.entries = False, {}
            else:
                self.present, self.entries = True, entries
        return (self.present, self.entries) != before


def _walk(path, prefix, depth, entries):
    """Envoy's DiskLayer::walkDirectory: directories add a key component, regular files are
    values, anything else is skipped."""
    if depth > MAX_WALK_DEPTH:
        raise RuntimeValueError(f"Walk recursion depth exceeded {MAX_WALK_DEPTH}")
    with os.scandir(path) as listing:
        children = list(listing)
    for child in children:
        key = f"{prefix}.{child.name}" if prefix else child.name
        if child.is_dir():
            _walk(child.path, key, depth + 1, entries)
        elif child.is_file() or (child.is_symlink() and not os.path.exists(child.path)):
            # A broken symlink counts as a file, as in Envoy: reading it fails the layer.
            with open(child.path, "rb") as file:
                text = file_value(file.read().decode("utf-8"))
            entries[key] = (text, load_text(text))


def file_value(content: str) -> str:
    """A file's value as Envoy reads it: its non-empty lines but those starting with '#', each
    but the last keeping its newline, the last with its trailing whitespace taken off."""
    lines = [line for line in content.split("\n") if line]
    value = []
    for line in lines:
        if line.startswith("#"):
            continue
        # Envoy compares the text, not the position: a line equal to the last is trimmed too.
        value.append(line.rstrip(_TRAILING_SPACE) if line == lines[-1] else line + "\n")
    return "".join(value)


def _identity(path):
    """What changes when ``path`` is replaced (``mv -T``, os.replace, ``ln -sfn``): the entry's
    inode and change time, and a symlink's target. None while it does not exist."""
    try:
        status = os.lstat(path)
        target = os.readlink(path) if os.path.islink(path) else None
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_ctime_ns, target
