"""Each fuzz target run for 10,000 inputs, as `make fuzz` runs it for a million (see
docs/fuzzing.md): a crash, a broken invariant, a hang or runaway memory fails the test, with
the input that did it. The targets run two at a time, each in a process of its own (atheris
runs one target per process)."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from fuzzkit.layout import RUNNER, load_target, target_names

SMOKE_RUNS = 10_000
PARALLEL = 2


def _smoke(target: str, out) -> subprocess.CompletedProcess:
    flags = [f"-runs={SMOKE_RUNS}", "-seed=1", "-timeout=10", "-rss_limit_mb=1024"]
    max_len = getattr(load_target(target), "SMOKE_MAX_LEN", None)
    if max_len:
        flags.append(f"-max_len={max_len}")
    return subprocess.run([sys.executable, str(RUNNER), target, "--out", str(out / target), *flags],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz")
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = {name: pool.submit(_smoke, name, out) for name in target_names()}
        return {name: run.result() for name, run in runs.items()}


@pytest.mark.parametrize("target", target_names())
def test_fuzz_target_survives_10k_inputs(target, smoke_runs):
    run = smoke_runs[target]
    assert run.returncode == 0, f"{target} failed; reproduce with the input it names:\n{run.stderr[-4000:]}"
    assert f"Done {SMOKE_RUNS} runs" in run.stderr
