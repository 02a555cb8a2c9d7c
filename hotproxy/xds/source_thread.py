"""The thread each transport (a gRPC stream, a REST poll, a watched file) runs its source on:
started once, stopped by an event its loop waits on."""
from __future__ import annotations

import threading


class SourceThread:
    """Subclasses set ``source`` and write ``_run``, which returns once ``_stopped`` is set."""

    source = None

    def __init__(self):
        self._stopped = threading.Event()
        self._thread = None

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"xds {self.source.describe()}")
            self._thread.start()

    def stop(self, timeout: float = 5.0):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self):
        raise NotImplementedError
