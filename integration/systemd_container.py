"""A container whose PID 1 is a real systemd: the host's own (Debian's systemd 252 package, under the
host's /usr bind-mounted read-only, as every harness container has it), booted on the harness's tiny
base image (images.py), with this checkout's units installed as an operator would install them.

What the engine here needs for it (docs/systemd.md): the cgroup v1 hierarchy bind-mounted
read-write; tmpfs on /run, /run/lock and /tmp; every capability but CAP_SYS_RESOURCE (the engine
itself lacks it, so ``privileged=True`` fails with "unable to apply caps: operation not
permitted"); seccomp and AppArmor unconfined, so that systemd can set up each unit's namespaces
and filters; ``container=docker``; SIGRTMIN+3 as the stop signal. /etc/machine-id is given (a
read-only file), or systemd would take the boot for a first boot and enable every unit the host
has presets for (docker, postgresql...).
"""
from __future__ import annotations

import sys
import time
import uuid

from images import LABEL, ROOT, host_mounts

SYSTEMD = "/lib/systemd/systemd"
UNIT_DIR = "/etc/systemd/system"
HOTPROXY = f"{sys.prefix}/bin/hotproxy"      # the checkout's venv, mounted at its host path
INSTALLED = "/opt/hotproxy/.venv/bin/hotproxy"  # where the shipped units look for it


class SystemdHost:
    """One container with systemd as PID 1. ``sh(script)`` runs a shell command in it."""

    def __init__(self, client, image, run, scratch):
        machine_id = scratch / "machine-id"
        machine_id.write_text(uuid.uuid4().hex + "\n")
        mounts = host_mounts()
        mounts["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "rw"}
        mounts[str(machine_id)] = {"bind": "/etc/machine-id", "mode": "ro"}
        self.container = client.containers.run(
            image.id, [SYSTEMD], name=f"hotproxy-it-{run}-systemd", hostname="vm", detach=True,
            labels={LABEL: run}, volumes=mounts, environment={"container": "docker"},
            tmpfs={"/run": "", "/run/lock": "", "/tmp": ""}, stop_signal="SIGRTMIN+3",
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

    def install_units(self, *names, dropins=None):
        """The units of this checkout's systemd/ (``names``), pointing at this checkout's venv,
        under /etc/systemd/system; ``dropins`` {unit: text} as hotproxy.service.d/harness.conf.
        The harness's drop-in for every service: its Python lives under /root (pyenv), which the
        units' ProtectHome=yes hides, so /root becomes a tmpfs with that one directory in it."""
        self.sh(f"mkdir -p {UNIT_DIR}")
        for name in names:
            self.sh(f"sed 's#{INSTALLED}#{HOTPROXY}#g' {ROOT}/systemd/{name} > '{UNIT_DIR}/{name}'")
        for unit, text in (dropins or {}).items():
            self.sh(f"mkdir -p '{UNIT_DIR}/{unit}.d' && cat > '{UNIT_DIR}/{unit}.d/harness.conf' <<'EOF'\n"
                    f"[Service]\nProtectHome=tmpfs\nBindReadOnlyPaths={sys.base_prefix}\n{text}\nEOF")
        self.sh("systemctl daemon-reload")

    def add_service_user(self):
        self.sh("groupadd --system hotproxy && useradd --system --gid hotproxy --no-create-home "
                "--home-dir /nonexistent --shell /usr/sbin/nologin hotproxy")

    def write(self, path, text):
        self.sh(f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}' <<'EOF'\n{text}\nEOF")

    def remove(self):
        self.container.remove(force=True)
