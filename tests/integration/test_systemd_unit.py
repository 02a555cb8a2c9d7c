"""The shipped systemd unit passes `systemd-analyze verify` (with this checkout's binary in place)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies_clean(tmp_path):
    hotproxy = Path(sys.executable).parent / "hotproxy"
    unit = (ROOT / "systemd" / "hotproxy.service").read_text().replace("/opt/hotproxy/.venv/bin/hotproxy", str(hotproxy))
    path = tmp_path / "hotproxy.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
