"""What every child process does first: die with its arbiter, and say what it is in ps; and how
a worker ends."""
import logging
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


#: the signals an operator sends the arbiter (reload, hot restart, log reopening, concurrency)
OPERATOR_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU)


def ignore_operator_signals(keep=()):
    """A child of the arbiter ignores the operator's signals but those in ``keep``: they are the
    arbiter's to act on, and ``systemctl kill -s USR2 hotproxy`` without ``--kill-whom=main``
    sends them to every process of the unit, where their default action ends (or stops) it."""
    for signum in OPERATOR_SIGNALS:
        if signum not in keep:
            signal.signal(signum, signal.SIG_IGN)


def set_title(title):
    setproctitle.setproctitle(title)


def exit_now(code):
    """End the process with ``code`` once its log lines and output are out, without the
    interpreter's teardown: a worker that served has nothing left to finalize, and tearing its
    heap down takes milliseconds of CPU from the cores the serving workers share."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)
