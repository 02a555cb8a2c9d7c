"""--pid-file: written once an epoch serves, removed as it exits while it still names it."""
from __future__ import annotations

import os


def write_pid_file(path):
    """Once we serve (after a hot restart, the file names the new epoch), atomically."""
    if path:
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as pid_file:
            pid_file.write(f"{os.getpid()}\n")
        os.replace(tmp, path)


def remove_pid_file(path):
    """Only while it still names us: a successor epoch may have written its own."""
    if not path:
        return
    try:
        with open(path) as pid_file:
            if pid_file.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass
