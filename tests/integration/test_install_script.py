"""scripts/install.sh (docs/install.md) into a temporary root (--root, as DESTDIR): from a release
tree to a venv whose hotproxy serves, the config, the log directory, the units and the logrotate
snippet; a second run changes nothing; uninstall takes it all back but the config, --purge that too.
Packages come from a wheelhouse made once per module (the machine's package index), so that each
install is offline, as on a VM with a local mirror. What needs root and a running systemd (the
user, enabling, the hot restart of an upgrade) is exercised under a real systemd in
integration/test_systemd_units.py."""
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tomllib

import pytest

from harness import ROOT, next_base_id, render, wait_for_port

RELEASE_PATHS = ["scripts", "pyproject.toml", "README.md", "hotproxy", "deploy/quickstart.yaml", "systemd",
                 "docs/install.md", "docs/systemd.md"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """This checkout as a release tree, frozen: other work in the checkout cannot change it midway."""
    tree = tmp_path_factory.mktemp("release")
    for name in RELEASE_PATHS:
        source, target = ROOT / name, tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return tree


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """Wheels of hotproxy's dependencies and of its build backend."""
    house = tmp_path_factory.mktemp("wheels")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needs = ["setuptools>=68", "wheel", *project["project"]["dependencies"]]
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(house), *needs],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"no wheelhouse (is a package index reachable?):\n{result.stderr[-3000:]}"
    return house


def install_sh(release, *args, check=True):
    result = subprocess.run(["bash", str(release / "scripts" / "install.sh"), *map(str, args)],
                            capture_output=True, text=True, env={**os.environ, "DESTDIR": ""})
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def tree(root):
    """{path: (mode, sha256 of the content or link target)} of everything under ``root``."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            content = os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        else:
            content = b""
        state[str(path.relative_to(root))] = (stat.filemode(info.st_mode), hashlib.sha256(content).hexdigest())
    return state


def serve_once(hotproxy, tmp_path):
    """The installed hotproxy serves a request (its own venv, no checkout on its path)."""
    text, ports = render((ROOT / "deploy" / "quickstart.yaml").read_text()
                         .replace("port_value: 10000", "port_value: {port:listen}")
                         .replace("port_value: 10001", "port_value: {port:demo}")
                         .replace("port_value: 9901", "port_value: {port:admin}"), {})
    config = tmp_path / "serve.yaml"
    config.write_text(text)
    process = subprocess.Popen([hotproxy, "-c", str(config), "--concurrency", "1", "--base-id", str(next_base_id())],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(ports["listen"], timeout=30, process=process)
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['listen']}/", timeout=10) as response:
            return response.status, response.read().decode()
    finally:
        process.terminate()
        process.wait(20)


def test_install_twice_then_uninstall_then_purge(release, wheelhouse, tmp_path):
    root = tmp_path / "root"
    args = ["--root", root, "--python", sys.executable, "--pip-args", f"--no-index --find-links {wheelhouse}"]
    first = install_sh(release, "install", *args)
    assert "installing hotproxy-" in first.stdout
    prefix = root / "opt" / "hotproxy"
    hotproxy = prefix / ".venv" / "bin" / "hotproxy"
    config = root / "etc" / "hotproxy" / "envoy.yaml"
    units = root / "etc" / "systemd" / "system"
    assert config.read_text() == (ROOT / "deploy" / "quickstart.yaml").read_text()
    assert sorted(p.name for p in units.iterdir()) == ["hotproxy.service", "hotproxy.socket", "hotproxy@.service"]
    assert "ExecStart=/opt/hotproxy/.venv/bin/hotproxy -c /etc/hotproxy/envoy.yaml" in \
        (units / "hotproxy.service").read_text()
    assert "SIGUSR1" in (root / "etc" / "logrotate.d" / "hotproxy").read_text()
    assert (root / "var" / "log" / "hotproxy").is_dir()
    assert stat.S_IMODE((root / "var" / "log" / "hotproxy").stat().st_mode) == 0o750

    # a second run: the same wheel is not installed again, nothing changes
    before = tree(root)
    again = install_sh(release, "install", *args)
    assert "is already installed" in again.stdout
    assert tree(root) == before

    # the installed hotproxy works from its own venv
    validated = subprocess.run([hotproxy, "--mode", "validate", "-c", config], capture_output=True, text=True,
                               cwd=tmp_path)
    assert validated.returncode == 0 and "OK" in validated.stdout, validated.stdout + validated.stderr
    assert serve_once(hotproxy, tmp_path)[0] == 200

    # an operator's config is never overwritten
    config.write_text(config.read_text() + "# edited\n")
    install_sh(release, "install", *args)
    assert config.read_text().endswith("# edited\n")

    removed = install_sh(release, "uninstall", "--root", root)
    assert "kept" in removed.stdout
    assert not prefix.exists()
    assert list(units.iterdir()) == []
    assert not (root / "etc" / "logrotate.d" / "hotproxy").exists()
    assert not (root / "var" / "log" / "hotproxy").exists()   # it was empty
    assert config.read_text().endswith("# edited\n")

    install_sh(release, "uninstall", "--root", root, "--purge")
    assert not (root / "etc" / "hotproxy").exists()


def test_uninstall_leaves_a_prefix_it_did_not_make(release, tmp_path):
    other = tmp_path / "root" / "opt" / "other"
    other.mkdir(parents=True)
    (other / "precious").write_text("x")
    result = install_sh(release, "uninstall", "--root", tmp_path / "root", "--prefix", "/opt/other", check=False)
    assert result.returncode == 1
    assert "was not made by this script" in result.stderr
    assert (other / "precious").exists()


@pytest.mark.parametrize("args, code, message", [
    (["reinstall"], 2, "scripts/install.sh install"),
    (["install", "--prefix", "opt/hotproxy"], 1, "--prefix must be an absolute path"),
    (["install", "--frobnicate"], 1, "unknown argument '--frobnicate'"),
])
def test_a_wrong_command_line_says_what_is_wrong(release, args, code, message):
    result = install_sh(release, *args, check=False)
    assert result.returncode == code
    assert message in result.stderr
