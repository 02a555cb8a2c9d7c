"""Steady load from a client host for the duration of a ``with`` block: two http_client.py
``load`` processes in the client's container (one on keep-alive connections, one on a fresh
connection a request), each writing one outcome a line to a file in a directory the host
shares with the test. Stopping them is creating the stop file; ``failures()`` is every outcome
that was not the expected status."""
from __future__ import annotations

from pathlib import Path

from http_client import STOPPED
from topology import HTTP_CLIENT, PYTHON, Host, wait_until


class Load:
    def __init__(self, client: Host, request_args: list[str], directory: Path, expect: str = "200",
                 interval: float = 0.02):
        self.client, self.request_args, self.directory = client, request_args, Path(directory)
        self.expect, self.interval = expect, interval
        self.stop_file = self.directory / "stop"
        self.outputs = [self.directory / "keep-alive.out", self.directory / "fresh.out"]

    def __enter__(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        for output, mode in zip(self.outputs, (["--keep-alive"], [])):
            self.client.run(PYTHON, HTTP_CLIENT, "load", *self.request_args, "--out", str(output),
                            "--stop", str(self.stop_file), "--interval", str(self.interval), *mode,
                            detach=True)
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        """Each process finishes the request it is in, writes its last line and exits."""
        self.stop_file.touch()
        wait_until(lambda: all(output.exists() and output.read_text().endswith(STOPPED + "\n")
                               for output in self.outputs), "the load to stop", self.client)

    def outcomes(self) -> list[str]:
        lines = []
        for output in self.outputs:
            if output.exists():
                lines += [line for line in output.read_text().splitlines() if line and line != STOPPED]
        return lines

    def count(self) -> int:
        return len(self.outcomes())

    def failures(self) -> list[str]:
        return [line for line in self.outcomes() if line != self.expect]

    def wait_for(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: self.count() >= count, f"{count} requests of load", self.client, timeout)

    def summary(self) -> str:
        outcomes = self.outcomes()
        kinds = {}
        for line in outcomes:
            kinds[line] = kinds.get(line, 0) + 1
        return f"{len(outcomes)} requests: {kinds}"

