"""What every child process does first: die with its arbiter, and say what it is in ps."""
import os
import signal
import sys

import prctl
import setproctitle


def die_with_parent(parent_pid):
    """SIGTERM this process when the arbiter dies; exit now if it already has (the parent may
    have died before the death signal was armed)."""
    prctl.set_pdeathsig(signal.SIGTERM)
    if os.getppid() != parent_pid:
        sys.exit(1)


def set_title(title):
    setproctitle.setproctitle(title)
