"""Where the fuzzing files live. A target is ``targets/<name>.py``; its seed corpus is
``corpus/<name>/``; a run's grown corpus and crashes go under ``out/<name>/`` (gitignored)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent.parent
TARGETS_DIR = FUZZ_DIR / "targets"
CORPUS_DIR = FUZZ_DIR / "corpus"
OUT_DIR = FUZZ_DIR / "out"
RUNNER = FUZZ_DIR / "run.py"


def target_names() -> list[str]:
    """Every target: each ``targets/*.py`` file is one."""
    return sorted(path.stem for path in TARGETS_DIR.glob("*.py") if not path.stem.startswith("_"))


def load_target(name: str):
    """The target's module, imported from its file (it is not on any package path)."""
    path = TARGETS_DIR / f"{name}.py"
    if not path.is_file():
        raise SystemExit(f"no fuzz target '{name}' (expected {path}); targets: "
                         f"{', '.join(target_names())}")
    spec = importlib.util.spec_from_file_location(f"fuzz_target_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
