"""What a test imports to run the xDS management server (xds_server.py) in its own process and
drive it over its control port:

    with XdsServer.start(tmp_path) as server:
        server.set("clusters", [{"name": "a", ...}], version="2")
        ...  # point the data plane at 127.0.0.1:server.grpc_port
        server.wait_for_ack("clusters", "2")
        server.kill(); server.restart()     # same ports, same resources (the state file)

Its own process so that "the control plane dies" is a real SIGKILL: the data plane sees its
connection reset, and a restart comes back on the same ports, serving what was set before.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import wait_for_port
from xds_resources import resource_type

SERVER = Path(__file__).resolve().with_name("xds_server.py")


class XdsServer:
    """One xds_server.py process. ``grpc_port`` and ``control_port`` stay the same across
    ``restart()``; ``directory`` holds its state file, ports file and log."""

    def __init__(self, directory, state=True):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.state_path = self.directory / "xds_state.json" if state else None
        self.ports_path = self.directory / "xds_ports.json"
        self.log_path = self.directory / "xds_server.log"
        self.grpc_port = 0
        self.control_port = 0
        self.process = None
        self._log = None

    @classmethod
    def start(cls, directory, *, grpc_port=0, control_port=0, state=True, timeout=10.0):
        """A running server; ports 0 are chosen by the server. ``state=False``: a restart
        starts empty, as a control plane that keeps nothing."""
        server = cls(directory, state)
        server.grpc_port, server.control_port = grpc_port, control_port
        server._launch(timeout)
        return server

    def _launch(self, timeout):
        if self.ports_path.exists():
            self.ports_path.unlink()
        command = [sys.executable, str(SERVER), "--grpc-port", str(self.grpc_port),
                   "--control-port", str(self.control_port), "--ports-file", str(self.ports_path)]
        if self.state_path:
            command += ["--state", str(self.state_path)]
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        cwd=SERVER.parent)
        deadline = time.monotonic() + timeout
        while not self.ports_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._reap()
                raise RuntimeError(f"xds_server did not start:\n{self.log()}")
            time.sleep(0.02)
        ports = json.loads(self.ports_path.read_text())
        self.grpc_port, self.control_port = ports["grpc_port"], ports["control_port"]
        wait_for_port(self.grpc_port, timeout=timeout, process=self.process)

    # --- process ------------------------------------------------------------------------------

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """SIGKILL, as a crashing control plane: no goodbye on its streams."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self):
        """SIGTERM (the server ends its calls), SIGKILL if it lingers."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()

    def restart(self, timeout=10.0):
        """Kill it if it runs, then start it again on the same ports and state file."""
        self.kill()
        self._launch(timeout)

    def _reap(self):
        if self.process is not None:
            self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- control API --------------------------------------------------------------------------

    def _call(self, method, path, body=None, timeout=5.0):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}",
                                         data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise XdsControlError(exc.code, exc.read().decode(errors="replace")) from None

    def set(self, type, resources, version=None):
        """Serve ``resources`` (Envoy-shaped dicts) as all of ``type`` (a short name such as
        "clusters", or a type URL), pushed to every stream subscribed to it; returns the
        version. XdsControlError (status 400) when a resource does not fit its proto."""
        body = {"resources": list(resources)}
        if version is not None:
            body["version"] = str(version)
        return self._call("PUT", f"/resources/{resource_type(type).short}", body)["version"]

    def state(self):
        """Ports, pid, per type its version and resources, and the open streams with their
        node and subscriptions."""
        return self._call("GET", "/state")

    def version(self, type):
        return self.state()["types"][resource_type(type).short]["version"]

    def requests(self, type=None, *, kind=None, flag=None, node=None):
        """The requests received since start (or the last clear_requests), in order, those of
        ``type`` (short name or URL), ``kind`` ("sotw", "delta", "rest"), ``flag`` ("ack",
        "nack", "request") and ``node`` (its id) when given."""
        url = resource_type(type).type_url if type is not None else None
        return [r for r in self._call("GET", "/requests")
                if (url is None or r["type_url"] == url) and (kind is None or r["kind"] == kind)
                and (flag is None or r["flag"] == flag)
                and (node is None or (r["node"] or {}).get("id") == node)]

    def clear_requests(self):
        self._call("DELETE", "/requests")

    def wait_for_request(self, type=None, timeout=5.0, match=None, **filters):
        """The first request of ``type`` (and ``filters``, as ``requests`` takes them) for which
        ``match(record)`` holds, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.requests(type, **filters) if match is None or match(r)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                seen = [(r["kind"], r["type"], r["flag"], r["version_info"], r["response_version"])
                        for r in self.requests()]
                raise AssertionError(f"no {type} request {filters} matching within {timeout}s; "
                                     f"seen (kind, type, flag, version_info, response_version): {seen}")
            time.sleep(0.02)

    def wait_for_ack(self, type, version, timeout=5.0, node=None):
        """The ACK of ``version`` of ``type`` (by ``node`` when given): a SotW request naming the
        latest response's nonce and its version, a delta request naming the nonce of a response
        of that version, or a REST poll that already holds it."""
        return self.wait_for_request(type, timeout, flag="ack", node=node,
                                     match=lambda r: r["response_version"] == str(version))

    def wait_for_nack(self, type, timeout=5.0, node=None, version=None):
        """The error message of the first NACK of ``type`` (of the response of ``version`` when
        given)."""
        record = self.wait_for_request(
            type, timeout, flag="nack", node=node,
            match=lambda r: version is None or r["response_version"] == str(version))
        return record["error_detail"]["message"]


class XdsControlError(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

