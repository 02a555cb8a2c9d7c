"""bench/switch_counter/sitecustomize.py counts greenlet switches in hotproxy's workers only."""
import os
import struct
import subprocess
import sys
from pathlib import Path

COUNTER_DIR = Path(__file__).resolve().parents[3] / "bench" / "switch_counter"

# 100 switches into a greenlet and 100 back out of it
SWITCHING = """
import greenlet
def ping():
    parent = greenlet.getcurrent().parent
    while True:
        parent.switch()
child = greenlet.greenlet(ping)
for _ in range(100):
    child.switch()
"""


def run(tmp_path, *marker):
    env = {**os.environ, "PYTHONPATH": str(COUNTER_DIR), "HOTPROXY_BENCH_SWITCH_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SWITCHING, *marker], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return list(tmp_path.iterdir())


def test_a_worker_counts_every_switch_into_its_file(tmp_path):
    [counter] = run(tmp_path, "hotproxy.process.worker")
    assert struct.unpack("<Q", counter.read_bytes())[0] == 200


def test_other_processes_count_nothing(tmp_path):
    assert run(tmp_path) == []     # the arbiter, the flusher: no file, no trace function
