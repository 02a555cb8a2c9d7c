"""The deploy/ topologies as containers, each host running the deploy/ config unchanged: the
hosts find each other by the names the configs use (Docker's DNS aliases), and the certificates
come from the deployment's own gen-certs script, mounted where the configs expect them
(``certs/`` under the working directory, /etc/hotproxy, as a VM install has it).

Addresses: every topology has its own /24s in 172.30.x (``internal=True`` networks), so modules
never meet; another run on the same engine holding one moves this one to a free /24
(``Topology.network``).
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from images import ROOT
from topology import Host, Topology, hotproxy_command, start_detached_hotproxy, wait_until_serving

DEPLOY = ROOT / "deploy"
ETC = "/etc/hotproxy"


def generate_certs(deployment: str, directory: Path) -> Path:
    certs = directory / "certs"
    subprocess.run(["bash", str(DEPLOY / deployment / "gen-certs.sh"), str(certs)], check=True,
                   capture_output=True)
    certs.chmod(0o755)
    for key in certs.glob("*.key"):
        key.chmod(0o644)  # read by hotproxy whatever uid the container runs it as
    return certs


@dataclass
class DoubleProxy:
    """client ─(front net)─ edge ─(back net)─ inner ─ service, as deploy/double-proxy/README.md."""
    topology: Topology
    client: Host
    edge: Host
    inner: Host
    service: Host
    certs: Path
    edge_log: Path
    workdir: Path          # shared rw with every host, at the same path
    FRONT = "front"
    BACK = "back"

    def url(self, path: str = "/") -> list[str]:
        """http_client.py arguments for a request to the edge as app.example.com."""
        return [f"https://app.example.com:10443{path}", "--connect", self.edge.ip(self.FRONT),
                "--cacert", f"{ETC}/certs/ca.pem"]

    def get(self, path: str = "/", *options: str) -> dict:
        return self.client.http(*self.url(path), *options)


def double_proxy(topology: Topology, workdir: Path, octet: int, base_id: int,
                 inner_options: dict | None = None) -> DoubleProxy:
    """Starts deploy/double-proxy on 172.30.<octet>.0/24 (clients and the edge) and
    172.30.<octet+1>.0/24 (the edge, the inner tier and the service). The edge runs hotproxy as a
    process started on the host (so SIGHUP and SIGUSR2 behave as on a VM); the inner tier's
    hotproxy is its container's command (so ``docker restart`` restarts it)."""
    certs = generate_certs("double-proxy", workdir)
    front = topology.network(DoubleProxy.FRONT, octet)
    back = topology.network(DoubleProxy.BACK, octet + 1)
    etc = {str(certs): {"bind": f"{ETC}/certs", "mode": "ro"}}
    config = DEPLOY / "double-proxy"
    service = topology.service("service", {DoubleProxy.BACK: f"{back}.40"},
                               aliases={DoubleProxy.BACK: ["service.internal"]})
    inner = topology.host("inner", hotproxy_command(str(config / "inner.yaml"), base_id),
                          {DoubleProxy.BACK: f"{back}.30"}, aliases={DoubleProxy.BACK: ["inner.internal"]},
                          mounts=etc, working_dir=ETC, **(inner_options or {}))
    edge = topology.client_host("edge", {DoubleProxy.FRONT: f"{front}.20", DoubleProxy.BACK: f"{back}.20"},
                                mounts=etc)
    edge_log = workdir / "edge.log"
    start_detached_hotproxy(edge, str(config / "edge.yaml"), base_id + 1, str(edge_log), ETC)
    client = topology.client_host("client", {DoubleProxy.FRONT: f"{front}.10"}, mounts=etc)
    wait_until_serving(inner, port=9902)
    wait_until_serving(edge)
    return DoubleProxy(topology, client, edge, inner, service, certs, edge_log, workdir)


@dataclass
class FrontProxy:
    """client ─ front proxy ─ service-a1, service-a2, service-b on one network, as
    deploy/front-proxy/README.md."""
    topology: Topology
    client: Host
    front: Host
    services: dict
    workdir: Path

    def url(self, path: str = "/") -> list[str]:
        return [f"https://front.example.com:8443{path}", "--connect", self.front.ip(),
                "--cacert", f"{ETC}/certs/ca.pem"]

    def get(self, path: str = "/", *options: str) -> dict:
        return self.client.http(*self.url(path), *options)


def front_proxy(topology: Topology, workdir: Path, octet: int, base_id: int) -> FrontProxy:
    certs = generate_certs("front-proxy", workdir)
    net = topology.network("net", octet)
    etc = {str(certs): {"bind": f"{ETC}/certs", "mode": "ro"}}
    services = {name: topology.service(name, {"net": f"{net}.{30 + index}"},
                                       aliases={"net": [f"service-{name}.internal"]})
                for index, name in enumerate(("a1", "a2", "b"))}
    front = topology.host("front", hotproxy_command(str(DEPLOY / "front-proxy" / "front.yaml"), base_id),
                          {"net": f"{net}.20"}, mounts=etc, working_dir=ETC)
    client = topology.client_host("client", {"net": f"{net}.10"}, mounts=etc)
    wait_until_serving(front)
    return FrontProxy(topology, client, front, services, workdir)


@dataclass
class SidecarPod:
    """A pod (the application's container, and hotproxy's sharing its network namespace) as
    deploy/sidecar/README.md, a remote service and a client on one network."""
    topology: Topology
    app: Host
    sidecar: Host
    remote: Host
    client: Host
    PROXY_UID = "1337"

    def access_log(self) -> str:
        return self.sidecar.logs()

    def iptables(self, *args: str) -> str:
        """Runs deploy/sidecar/iptables.sh in the pod's network namespace, from a one-shot
        container with NET_ADMIN (as istio-init); returns its output."""
        return run_iptables_script(self.topology, self.app, *args)


def run_iptables_script(topology: Topology, app: Host, *args: str) -> str:
    runs = sum(1 for name in topology.hosts if name.startswith("init"))
    init = topology.host(f"init-{runs}", ["/bin/sh", str(DEPLOY / "sidecar" / "iptables.sh"), *args], {},
                         cap_add=["NET_ADMIN"], network_mode=f"container:{app.container.id}")
    status = init.container.wait(timeout=60)["StatusCode"]
    assert status == 0, f"iptables.sh {' '.join(args)} failed ({status}): {init.logs()}"
    return init.logs()


def sidecar_pod(topology: Topology, octet: int, base_id: int) -> SidecarPod:
    """The application is echo_service.py on 9080 and 9090, started before anything else and
    never told about the proxy; iptables.sh runs in an init container, as istio-init does."""
    net = topology.network("pod", octet)
    remote = topology.service("remote", {"pod": f"{net}.20"}, ports=(8080, 7070))
    app = topology.service("productpage", {"pod": f"{net}.10"}, ports=(9080, 9090))
    in_pod = {"network_mode": f"container:{app.container.id}"}
    run_iptables_script(topology, app)
    sidecar = topology.host("sidecar", hotproxy_command(str(DEPLOY / "sidecar" / "sidecar.yaml"), base_id),
                            {}, user=f"{SidecarPod.PROXY_UID}:{SidecarPod.PROXY_UID}", **in_pod)
    sidecar.addresses = dict(app.addresses)
    client = topology.client_host("client", {"pod": f"{net}.30"})
    wait_until_serving(sidecar, port=15000)
    return SidecarPod(topology, app, sidecar, remote, client)
