"""Hosts and networks for the Docker harness's topologies, on the base image of images.py.

A ``Topology`` is one scenario module's little data centre: private networks (``internal=True``,
explicit 172.30.x subnets, so traffic reaches only our own containers), hosts with fixed
addresses and DNS aliases, and everything labelled with one run id, removed when the topology
closes, whether the tests passed or not. The fixtures in conftest.py are per test; a topology is
meant to live for a module, so it carries its own label and clean-up.

Every host runs the host's Python, venv and checkout (bind-mounted read-only), so
``Host.python(...)`` runs any module of this directory or of hotproxy inside it.
"""
from __future__ import annotations

import json
import shlex
import sys
import time
import uuid
from pathlib import Path

from images import LABEL, ROOT, host_mounts, remove_labelled

PYTHON = sys.executable
HERE = Path(__file__).resolve().parent
HTTP_CLIENT = str(HERE / "http_client.py")
ECHO_SERVICE = str(HERE / "echo_service.py")


class Host:
    """One container: its addresses by network, and what a test does to and in it."""

    def __init__(self, topology: "Topology", name: str, container, addresses: dict):
        self.topology, self.name, self.container = topology, name, container
        self.addresses = addresses        # network name → IPv4 address

    def ip(self, network: str | None = None) -> str:
        return self.addresses[network] if network else next(iter(self.addresses.values()))

    def run(self, *argv: str, user: str | None = None, detach: bool = False) -> tuple[int, str]:
        result = self.container.exec_run(list(argv), user=user or "", detach=detach)
        if detach:
            return 0, ""
        return result.exit_code, result.output.decode(errors="replace").strip()

    def python(self, *args: str, user: str | None = None) -> tuple[int, str]:
        return self.run(PYTHON, *args, user=user)

    def http(self, url: str, *options: str, user: str | None = None) -> dict:
        """One request by http_client.py from this host: {"status", "body", "headers"} or
        {"error"}."""
        code, out = self.python(HTTP_CLIENT, "get", url, *options, user=user)
        if code != 0:
            raise AssertionError(f"http_client on {self.name} failed ({code}): {out}")
        return json.loads(out.splitlines()[-1])

    def admin(self, path: str, port: int = 9901) -> str:
        """GET on the hotproxy admin interface listening on this host's loopback."""
        answer = self.http(f"http://127.0.0.1:{port}{path}", "--timeout", "5")
        if answer.get("status") != 200:
            raise AssertionError(f"admin {path} on {self.name}: {answer}")
        return answer["body"]

    def stats(self, port: int = 9901) -> dict:
        stats = {}
        for line in self.admin("/stats", port).splitlines():
            name, _, value = line.partition(": ")
            if value.strip().lstrip("-").isdigit():
                stats[name] = int(value)
        return stats

    def arbiter_pid(self, port: int = 9901) -> int:
        return json.loads(self.admin("/server_info", port))["hotproxy"]["arbiter_pid"]

    def kill(self, pid: int, signal_name: str) -> None:
        code, out = self.run("kill", f"-{signal_name}", str(pid))
        assert code == 0, out

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")


class Topology:
    """Networks and hosts of one scenario; a context manager that removes all of them."""

    def __init__(self, client, image, rw_dirs: tuple[str, ...] = ()):
        self.client, self.image = client, image
        self.run_id = uuid.uuid4().hex[:8]
        self.networks = {}
        self.hosts = {}
        self.rw_dirs = rw_dirs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        remove_labelled(self.client, self.run_id)

    def _name(self, name: str) -> str:
        return f"hpit-{self.run_id}-{name}"

    def network(self, name: str, octet: int) -> str:
        """Creates the network ``name`` on 172.30.<octet>.0/24, or, when another run on the same
        engine holds that subnet, on the first free one from 172.30.100.0/24 up; returns its
        prefix ("172.30.<x>"), from which the hosts' fixed addresses are made."""
        from docker.errors import APIError  # here: without the SDK, tests skip, not fail to import
        from docker.types import IPAMConfig, IPAMPool
        for candidate in (octet, *range(100, 255)):
            prefix = f"172.30.{candidate}"
            try:
                network = self.client.networks.create(
                    self._name(name), driver="bridge", internal=True, labels={LABEL: self.run_id},
                    ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=f"{prefix}.0/24", gateway=f"{prefix}.1")]))
            except APIError as error:
                if "overlap" in str(error):
                    continue
                raise
            self.networks[name] = network
            return prefix
        raise RuntimeError("no free 172.30.x.0/24 subnet")

    def host(self, name: str, command: list[str], networks: dict[str, str],
             aliases: dict[str, list[str]] | None = None, mounts: dict | None = None,
             **options) -> Host:
        """Starts ``command`` on a new host with a fixed address on each network
        (``{network: ip}``; the first is where it is created, the others are connected after)."""
        aliases = aliases or {}
        volumes = host_mounts(*self.rw_dirs)
        volumes.update(mounts or {})
        options.setdefault("init", True)
        options.setdefault("working_dir", str(ROOT))
        others = []
        if "network_mode" not in options:   # else it shares another container's network namespace
            (first, first_ip), *others = networks.items()
            options["hostname"] = name
            options["network"] = self.networks[first].name
            options["networking_config"] = {self.networks[first].name: self.client.api.create_endpoint_config(
                ipv4_address=first_ip, aliases=aliases.get(first, []))}
        container = self.client.containers.create(
            self.image.id, command, name=self._name(name), labels={LABEL: self.run_id},
            volumes=volumes, environment={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
            shm_size="128m", **options)
        for network, ip in others:
            self.networks[network].connect(container, ipv4_address=ip, aliases=aliases.get(network, []))
        container.start()
        host = Host(self, name, container, dict(networks))
        self.hosts[name] = host
        return host

    def service(self, name: str, networks: dict[str, str], aliases=None, ports=(8080,), **options) -> Host:
        """An echo_service.py host."""
        command = [PYTHON, ECHO_SERVICE, "--name", name]
        for port in ports:
            command += ["--port", str(port)]
        host = self.host(name, command, networks, aliases, **options)
        wait_until(lambda: f"echo service {name}" in host.logs(), f"{name} to serve", host)
        return host

    def client_host(self, name: str, networks: dict[str, str], **options) -> Host:
        """A host that only runs what a test execs in it."""
        return self.host(name, [PYTHON, "-c", "import signal; signal.pause()"], networks, **options)

    def disconnect(self, network: str, host: Host) -> None:
        self.networks[network].disconnect(host.container)

    def reconnect(self, network: str, host: Host, aliases: list[str] = ()) -> None:
        self.networks[network].connect(host.container, ipv4_address=host.addresses[network],
                                       aliases=list(aliases))


def hotproxy_command(config: str, base_id: int, *extra: str) -> list[str]:
    return [PYTHON, "-m", "hotproxy", "-c", config, "--base-id", str(base_id), "--concurrency", "1",
            *extra]


def start_detached_hotproxy(host: Host, config: str, base_id: int, log_path: str, workdir: str,
                            *extra: str) -> None:
    """Starts hotproxy on ``host`` as an operator on a VM would (not as the container's PID 1,
    whose exit would stop the container), so that a SIGUSR2 successor outlives its parent, as it
    does there. Its output (access log included) goes to ``log_path``."""
    command = " ".join(shlex.quote(part) for part in hotproxy_command(config, base_id, *extra))
    host.run("/bin/sh", "-c", f"cd {shlex.quote(workdir)} && exec {command} >>{shlex.quote(log_path)} 2>&1",
             detach=True)


def wait_until(predicate, what: str, host: Host | None = None, timeout: float = 60.0, interval=0.25):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (AssertionError, OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            detail = f"\n{host.name} logs:\n{host.logs()[-4000:]}" if host else ""
            raise AssertionError(f"timed out waiting for {what}{detail}")
        time.sleep(interval)


def wait_until_serving(host: Host, port: int = 9901, timeout: float = 60.0) -> None:
    """hotproxy on ``host`` answers its admin's /ready."""
    def ready():
        return host.http(f"http://127.0.0.1:{port}/ready", "--timeout", "2").get("status") == 200
    wait_until(ready, "hotproxy to be ready", host, timeout)
