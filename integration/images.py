"""Container images for the Docker harness, built with no registry (../shared/research/docker-offline.md,
recipe b1): a 54 KB base of directories and a few /etc files, with the host's /usr, Python and this
checkout bind-mounted read-only into every container, so a code change needs no rebuild."""
import io
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "hotproxy-it-base:1"
LABEL = "hotproxy-it"
# /etc files the host's libraries read; /etc/alternatives holds the links iptables goes through.
_ETC = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/ld.so.conf",
        "/etc/ld.so.conf.d", "/etc/alternatives")


def host_mounts(*extra_rw: str) -> dict:
    """The read-only mounts every harness container needs, at the same paths as on the host
    (venv scripts and pyvenv.cfg hold absolute paths), plus any host directories mounted rw."""
    mounts = {path: {"bind": path, "mode": "ro"}
              for path in {"/usr", sys.base_prefix, sys.prefix, str(ROOT)}}
    mounts.update({path: {"bind": path, "mode": "rw"} for path in extra_rw})
    return mounts


def base_image(client):
    """Imports the base image (0.2 s; cheaper to rebuild every run than to check it is current)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def directory(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def link(name, target):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)

        # /sbin stays a real directory: with init=True, docker-init is mounted at /sbin/docker-init.
        for name in ("etc", "proc", "sys", "dev", "run", "root", "var", "var/lib", "var/log", "opt",
                     "usr", "sbin"):
            directory(name)
        directory("tmp", 0o1777)
        directory("var/tmp", 0o1777)
        for name in ("bin", "lib", "lib64"):
            link(name, "usr/" + name)
        for path in _ETC:
            if Path(path).exists():
                tar.add(path, arcname=path[1:])
    repository, tag = BASE_IMAGE.split(":")
    client.api.import_image_from_data(
        buf.getvalue(), repository=repository, tag=tag,
        changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    return client.images.get(BASE_IMAGE)


def remove_labelled(client, run: str | None = None) -> None:
    """Removes the containers and networks a run (or, without one, every run) left behind."""
    selector = LABEL if run is None else f"{LABEL}={run}"
    for container in client.containers.list(all=True, filters={"label": selector}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": selector}):
        network.remove()
