"""``hotproxy-restarter -- hotproxy ARGS...``: a supervisor for containers and plain shells, what
Envoy's hot-restarter.py is to Envoy (docs/hot-restart.md).

It stays in the foreground (PID 1 in a container), starts ``hotproxy ARGS... --restart-epoch 0``
and, on SIGHUP, the next epoch the same way; the epochs hand over among themselves. SIGTERM and
SIGINT go to every live epoch, and if the restarter itself dies its epochs get SIGTERM. It exits
when the last epoch has, with that epoch's status. Unlike
Envoy's, an epoch that fails to start is logged and takes nothing down with it: its number is used
again by the next SIGHUP.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import prctl


def log(message):
    print(f"hotproxy-restarter: {message}", file=sys.stderr, flush=True)


class Restarter:
    def __init__(self, command):
        self.command = command
        self.epochs = {}           # epoch → Popen, live ones
        self.next_epoch = 0
        self.status = 0
        self._restart = False
        self._forward = None

    def run(self):
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "_restart", True))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, _frame: setattr(self, "_forward", number))
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the sleep below
        self.start_epoch()
        while self.epochs:
            if self._restart:
                self._restart = False
                self.start_epoch()
            if self._forward is not None:
                number, self._forward = self._forward, None
                for process in self.epochs.values():
                    process.send_signal(number)
            self.reap()
            time.sleep(0.2)
        return self.status

    def start_epoch(self):
        epoch = self.next_epoch
        self.next_epoch += 1
        log(f"starting epoch {epoch}")
        # the epochs go when the restarter goes, however it goes (SIGKILL included)
        self.epochs[epoch] = subprocess.Popen([*self.command, "--restart-epoch", str(epoch)],
                                              preexec_fn=lambda: prctl.set_pdeathsig(signal.SIGTERM))

    def reap(self):
        # As PID 1 we inherit the orphans of epochs that died (their workers): reap every child,
        # handing an epoch's status to its Popen so that ``poll`` below still sees it.
        by_pid = {process.pid: process for process in self.epochs.values()}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in by_pid:
                by_pid[pid].returncode = os.waitstatus_to_exitcode(status)
        for epoch, process in list(self.epochs.items()):
            code = process.poll()
            if code is None:
                continue
            del self.epochs[epoch]
            self.status = code
            log(f"epoch {epoch} exited with {code}")
            if code != 0 and epoch == self.next_epoch - 1 and self.epochs:
                self.next_epoch = epoch  # it never took over: the next restart uses its number


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: hotproxy-restarter -- hotproxy -c CONFIG [ARGS...]", file=sys.stderr)
        return 2
    return Restarter(argv).run()


if __name__ == "__main__":
    sys.exit(main())
