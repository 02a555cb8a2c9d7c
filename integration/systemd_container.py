"""A container whose PID 1 is a real systemd: the host's own (Debian's systemd 252 package, under the
host's /usr bind-mounted read-only, as every harness container has it), booted on the harness's tiny
base image (images.py), where scripts/install.sh installs hotproxy as on a VM (a venv in /opt/hotproxy
from wheels given in /wheels, the user, the units, enabled and started).

What the engine here needs for it (docs/systemd.md): the cgroup v1 hierarchy bind-mounted
read-write; tmpfs on /run, /run/lock and /tmp; every capability but CAP_SYS_RESOURCE (the engine
itself lacks it, so ``privileged=True`` fails with "unable to apply caps: operation not
permitted"); seccomp and AppArmor unconfined, so that systemd can set up each unit's namespaces
and filters; ``container=docker``; SIGRTMIN+3 as the stop signal. /etc/machine-id is given (a
read-only file), or systemd would take the boot for a first boot and enable every unit the host
has presets for (docker, postgresql...).
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
import tempfile
import tomllib
import uuid
from pathlib import Path

from images import LABEL, ROOT, host_mounts

SYSTEMD = "/lib/systemd/systemd"
UNIT_DIR = "/etc/systemd/system"


class SystemdHost:
    """One container with systemd as PID 1. ``sh(script)`` runs a shell command in it."""

    def __init__(self, client, image, run, scratch, wheels):
        """``wheels``: a host directory of wheels, mounted at /wheels."""
        machine_id = scratch / "machine-id"
        machine_id.write_text(uuid.uuid4().hex + "\n")
        mounts = host_mounts()
        mounts["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "rw"}
        mounts[str(machine_id)] = {"bind": "/etc/machine-id", "mode": "ro"}
        mounts[str(wheels)] = {"bind": "/wheels", "mode": "ro"}
        self.container = client.containers.run(
            image.id, [SYSTEMD], name=f"hotproxy-it-{run}-systemd", hostname="vm", detach=True,
            labels={LABEL: run}, volumes=mounts, environment={"container": "docker"},
            # /opt on a tmpfs: the venv's thousands of files install faster than on fuse-overlayfs
            tmpfs={"/run": "", "/run/lock": "", "/tmp": "", "/opt": "exec,mode=755"}, stop_signal="SIGRTMIN+3",
            cap_add=["ALL"], cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"])
        self.container.reload()
        self.address = self.container.attrs["NetworkSettings"]["IPAddress"]

    def sh(self, script, check=True):
        code, output = self.container.exec_run(["/bin/sh", "-c", script])
        output = output.decode(errors="replace")
        if check and code != 0:
            raise AssertionError(f"exit {code}: {script}\n{output}")
        return output.strip()

    def wait_booted(self, timeout=60):
        """Until systemd has finished booting ("degraded" counts: units meant for real machines fail)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.sh("systemctl is-system-running || true")
            if state in ("running", "degraded"):
                return state
            assert time.monotonic() < deadline, f"systemd did not boot: {state}\n{self.container.logs()[-3000:]!r}"
            time.sleep(0.3)

    def show(self, unit, *properties):
        """``systemctl show`` as {property: value}."""
        text = self.sh(f"systemctl show {unit} " + " ".join(f"-p {name}" for name in properties))
        return dict(line.split("=", 1) for line in text.splitlines())

    def journal(self, unit):
        return self.sh(f"journalctl -u {unit} --no-pager -o cat", check=False)

    def wait_for(self, condition, what, timeout=40):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
            time.sleep(0.2)

    def install_sh(self, *args):
        """scripts/install.sh of this checkout, as root, with the system's python3 and only /wheels."""
        return self.sh(f"bash {ROOT}/scripts/install.sh " + " ".join(args) +
                       " --python /usr/bin/python3 --pip-args '--no-index --find-links /wheels'")

    def dropin(self, unit, text):
        """/etc/systemd/system/UNIT.d/harness.conf, then daemon-reload."""
        self.sh(f"mkdir -p '{UNIT_DIR}/{unit}.d' && cat > '{UNIT_DIR}/{unit}.d/harness.conf' <<'EOF'\n"
                f"[Service]\n{text}\nEOF\nsystemctl daemon-reload")

    def write(self, path, text):
        self.sh(f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}' <<'EOF'\n{text}\nEOF")

    def remove(self):
        self.container.remove(force=True)


def build_wheels(directory):
    """Into ``directory``: wheels of hotproxy's dependencies and build backend, and two hotproxy
    wheels of this checkout as it is now, v1/ and v2/, v2 with one more line, so that installing v2
    over v1 is an upgrade. Returns the two wheels' container paths. The dependencies' wheels come
    from the machine's package index once per dependency list, then from a cache in the system's
    temporary directory."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needs = ["setuptools>=68", "wheel", *project["project"]["dependencies"]]
    cache = Path(tempfile.gettempdir()) / ("hotproxy-it-wheels-" + hashlib.sha256(" ".join(needs).encode()).hexdigest()[:16])
    if not (cache / "complete").exists():
        _pip("wheel", "-q", "-w", str(cache), *needs)
        (cache / "complete").touch()
    for wheel in cache.glob("*.whl"):
        shutil.copy2(wheel, directory / wheel.name)
    source = directory / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "hotproxy", source / "hotproxy", ignore=shutil.ignore_patterns("__pycache__"))
    paths = []
    for version in ("v1", "v2"):
        if version == "v2":
            with open(source / "hotproxy" / "__init__.py", "a") as init:
                init.write("# the upgrade the harness installs\n")
        _pip("wheel", "-q", "--no-deps", "--no-index", "--find-links", str(directory),
             "-w", str(directory / version), str(source))
        wheel = next((directory / version).glob("hotproxy-*.whl"))
        paths.append(f"/wheels/{version}/{wheel.name}")
    shutil.rmtree(source)
    return paths


def _pip(*args):
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip {args[0]} failed (is a package index reachable?):\n{result.stderr[-3000:]}")
