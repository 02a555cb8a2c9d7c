"""Run one coverage-guided fuzz target under atheris (libFuzzer).

    python tests/fuzz/run.py TARGET [--out DIR] [--tolerate EXCEPTION,…] [libFuzzer flags…] [FILE…]

Every module of ``hotproxy`` is instrumented for coverage as the target imports it; what it
calls is not (llhttp is C, and instrumenting PyYAML would halve the config targets' speed for
paths that are not hotproxy's). The grown corpus goes to
``DIR/corpus`` (default ``tests/fuzz/out/TARGET``), read together with the committed seeds in
``tests/fuzz/corpus/TARGET`` (a seed ``*.hex`` file is hex text, for binary protocols);
crashes, timeouts and out-of-memory inputs go to ``DIR/crashes``. Given FILEs (a crash, say)
instead, each is run once: that is how a crash is reproduced.

``--tolerate`` names exception types that do not stop the run, so that a long run can go on
past a bug already reported to the owner of the code it is in (docs/fuzzing.md says which).
The first input that raised each is saved as ``DIR/crashes/tolerated-NAME``, and how many did
is printed at 1, 10, 100 … Never in the smoke test: there, every crash fails.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import atheris  # noqa: E402

from fuzzkit.layout import CORPUS_DIR, OUT_DIR, load_target  # noqa: E402

INSTRUMENTED = ["hotproxy"]
#: Defaults a caller's own flag of the same name overrides. The per-input timeout and the RSS
#: limit are the invariants "never hangs" and "bounded memory".
DEFAULT_FLAGS = {"-timeout": "10", "-rss_limit_mb": "2048", "-print_final_stats": "1"}


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1].startswith("-"):
        raise SystemExit(__doc__)
    name, args = argv[1], argv[2:]
    out = Path(_option(args, "--out") or OUT_DIR / name)
    tolerated = set(filter(None, (_option(args, "--tolerate") or "").split(",")))
    with atheris.instrument_imports(include=INSTRUMENTED):
        target = load_target(name)
    flags = [arg for arg in args if arg.startswith("-")]
    files = [arg for arg in args if not arg.startswith("-")]
    given = {flag.split("=", 1)[0] for flag in flags}
    crashes = out / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    defaults = dict(DEFAULT_FLAGS, **{"-artifact_prefix": f"{crashes}/",
                                      "-max_len": str(target.MAX_LEN)})
    dictionary = getattr(target, "DICTIONARY", ())
    if dictionary:
        defaults["-dict"] = str(_write_dictionary(out / f"{name}.dict", dictionary))
    flags += [f"{flag}={value}" for flag, value in defaults.items() if flag not in given]
    if not files:
        grown = out / "corpus"
        grown.mkdir(parents=True, exist_ok=True)
        # libFuzzer adds new inputs to the first directory only: the seeds stay as committed.
        files = [str(grown), str(_write_seeds(CORPUS_DIR / name, out / "seeds"))]
    check = _tolerating(target.check, tolerated, crashes) if tolerated else target.check
    atheris.Setup([argv[0], *flags, *files], check)
    atheris.Fuzz()


def _option(args: list[str], name: str) -> str | None:
    """The value of ``name VALUE`` in ``args``, removed from them."""
    if name not in args:
        return None
    at = args.index(name)
    value = args[at + 1]
    del args[at:at + 2]
    return value


def _write_dictionary(path: Path, tokens) -> Path:
    """libFuzzer's dictionary format: one quoted token a line, bytes escaped as \\xNN."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ['"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}"
                           for b in token) + '"' for token in tokens]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_seeds(committed: Path, seeds: Path) -> Path:
    """The committed seeds as the inputs they stand for, in a directory of their own."""
    seeds.mkdir(parents=True, exist_ok=True)
    for old in seeds.iterdir():
        old.unlink()
    for path in sorted(committed.iterdir()) if committed.is_dir() else ():
        data = path.read_bytes()
        (seeds / path.name).write_bytes(bytes.fromhex(data.decode()) if path.suffix == ".hex" else data)
    return seeds


def _tolerating(check, names: set[str], crashes: Path):
    counts = dict.fromkeys(names, 0)

    def tolerant_check(data: bytes) -> None:
        try:
            check(data)
        except Exception as error:
            kind = type(error).__name__
            if kind not in counts:
                raise
            counts[kind] += 1
            if counts[kind] == 1:
                (crashes / f"tolerated-{kind}").write_bytes(data)
            if str(counts[kind]).rstrip("0") == "1":  # 1, 10, 100 …
                print(f"TOLERATED {kind} x{counts[kind]}: {error!s:.200}", file=sys.stderr)

    return tolerant_check


if __name__ == "__main__":
    main(sys.argv)
