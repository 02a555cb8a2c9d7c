"""Flusher side of access logging: buffered appends to access-log files.

Each destination (a file path, or "stdout" / "stderr") has a buffer written out when it passes
``flush_bytes`` or every ``flush_interval`` seconds (--file-flush-min-size-kb, --file-flush-interval-msec;
Envoy flushes at 64 KiB or 10 s, hotproxy every 1 s by default). ``reopen()``
closes every file so that the next write opens it anew: what logrotate's SIGUSR1 needs.
"""
from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


class AccessLogWriter:
    def __init__(self, flush_bytes=64 * 1024):
        self.flush_bytes = flush_bytes
        self._buffers = {}     # destination → list of bytes
        self._sizes = {}
        self._files = {}       # path → fd opened O_APPEND

    def add(self, destination, data):
        buffer = self._buffers.setdefault(destination, [])
        buffer.append(data)
        size = self._sizes.get(destination, 0) + len(data)
        self._sizes[destination] = size
        if size >= self.flush_bytes:
            self._flush_one(destination)

    def flush(self):
        for destination in list(self._buffers):
            self._flush_one(destination)

    def reopen(self):
        self.flush()
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def close(self):
        self.reopen()

    def _flush_one(self, destination):
        buffer = self._buffers.pop(destination, None)
        self._sizes.pop(destination, None)
        if not buffer:
            return
        data = b"".join(buffer)
        try:
            fd = self._fd(destination)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            log.error("access log %s: %s (%d bytes lost)", destination, exc, len(data))
            self._files.pop(destination, None)

    def _fd(self, destination):
        if destination == "stdout":
            return sys.stdout.fileno()
        if destination == "stderr":
            return sys.stderr.fileno()
        fd = self._files.get(destination)
        if fd is None:
            fd = os.open(destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._files[destination] = fd
        return fd
