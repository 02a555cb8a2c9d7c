"""compare.py --access-log: both proxies get the same file access log, in the default format."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

from access_log_config import with_file_access_log  # noqa: E402

HTTP_YAML = (ROOT / "bench" / "configs" / "http.yaml").read_text().replace("{listen}", "10000").replace(
    "{upstream}", "10001")


def test_each_connection_manager_logs_to_the_file_in_the_default_format(tmp_path):
    config = yaml.safe_load(with_file_access_log(HTTP_YAML, tmp_path / "access.log"))
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    [log] = hcm["access_log"]
    assert log["typed_config"] == {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": str(tmp_path / "access.log")}   # no format: the default one
    assert hcm["route_config"]["name"] == "bench"   # the rest untouched


def test_hotproxy_accepts_the_config(tmp_path):
    path = tmp_path / "http.yaml"
    path.write_text(with_file_access_log(HTTP_YAML, tmp_path / "access.log"))
    done = subprocess.run([str(Path(sys.executable).parent / "hotproxy"), "-c", str(path), "--mode", "validate"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_config_without_a_connection_manager_is_refused():
    tcp = (ROOT / "bench" / "configs" / "tcp.yaml").read_text()
    with pytest.raises(ValueError, match="http_connection_manager"):
        with_file_access_log(tcp, "/tmp/x.log")
