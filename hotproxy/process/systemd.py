"""sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET.

READY=1 once every worker is ready; RELOADING=1 with MONOTONIC_USEC while a reload runs (systemd's
Type=notify-reload protocol) and READY=1 after it; STOPPING=1; STATUS= lines shown by
``systemctl status``; WATCHDOG=1 pings when WATCHDOG_USEC is set (``Watchdog``). Outside systemd
every call is a no-op.
"""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def notify_message(**fields):
    """``notify_message(ready=1, status="x")`` → b"READY=1\\nSTATUS=x"."""
    return "\n".join(f"{key.upper()}={value}" for key, value in fields.items()).encode()


class Notifier:
    def __init__(self, environ=os.environ):
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address or None
        usec = environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self):
        return self.address is not None

    def send(self, **fields):
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(notify_message(**fields), self.address)
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)

    def ready(self, status):
        self.send(ready=1, status=status)

    def reloading(self, status):
        self.send(reloading=1, monotonic_usec=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000,
                  status=status)

    def stopping(self, status):
        self.send(stopping=1, status=status)

    def watchdog(self):
        self.send(watchdog=1)


class Watchdog:
    """WATCHDOG=1 at half of WATCHDOG_USEC, sent from the arbiter's main loop (``tick`` on every
    turn of it), not from a greenlet of its own: a loop that is stuck, whether the hub is blocked
    or the loop waits on something that never comes, stops the pings, and systemd's
    WatchdogSec= kills and restarts the service. The loop turns at least every TICK_S (0.5 s),
    so the pings keep up with any WatchdogSec= of 2 s or more.

    WATCHDOG_PID is not checked: after a hot restart the successor epoch, whose pid is not the
    one systemd started, must ping too (it announced MAINPID=, and NotifyAccess=all lets it)."""

    def __init__(self, notifier, clock=time.monotonic):
        self._notifier = notifier
        self._clock = clock
        self._next = None

    @property
    def enabled(self):
        return self._notifier.enabled and self._notifier.watchdog_interval is not None

    def tick(self):
        """One turn of the main loop: a ping when half the watchdog timeout has passed since the last."""
        if not self.enabled:
            return
        now = self._clock()
        if self._next is None or now >= self._next:
            self._notifier.watchdog()
            self._next = now + self._notifier.watchdog_interval
