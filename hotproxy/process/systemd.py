"""sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET.

READY=1 once every worker is ready; RELOADING=1 with MONOTONIC_USEC while a reload runs (systemd's
Type=notify-reload protocol) and READY=1 after it; STOPPING=1; STATUS= lines shown by
``systemctl status``; WATCHDOG=1 pings when WATCHDOG_USEC is set. Outside systemd every call is a
no-op.
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
