"""The shell steps of the runbooks (docs/runbooks/*.md), as test_runbooks.py runs them.

A runbook's steps are fenced code blocks (docs/runbooks/README.md, "How the runbooks are tested"):

    ```sh                  a step run against a real hotproxy on this machine (bash -euo pipefail)
    ```sh systemd          a step for a host whose hotproxy runs as hotproxy.service: run in a
                           container whose PID 1 is a real systemd (integration/systemd_container.py)
    ```sh status=1         either kind may say the exit status it ends with (default 0)
    ```output              what the step just before prints: each of its lines matches a line of
                           the step's output (stdout and stderr), in order; `...` stands for any text

Each runbook's blocks are walked in order (``Walk``): a test names the next block it runs by a
piece of its text, so a block added, moved or removed shows up as a failure, and a walk that ends
with blocks left unrun fails too.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
LOCAL, SYSTEMD = "local", "systemd"
_FENCE = re.compile(r"^```(\S*)(.*)$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int                   # of the opening fence, 1-based
    kind: str                   # LOCAL or SYSTEMD
    script: str
    status: int = 0
    expected: tuple[str, ...] | None = None     # the ```output block after it

    @property
    def name(self) -> str:
        return f"{self.path.name}:{self.line}"


class RunbookFormatError(ValueError):
    pass


def runbook_paths() -> list[Path]:
    """Every runbook (the README is the index, not a runbook)."""
    return sorted(path for path in RUNBOOKS.glob("*.md") if path.name != "README.md")


def parse(path: Path, text: str | None = None) -> list[Block]:
    """The shell blocks of a runbook, each with the output block that follows it (if any)."""
    lines = (path.read_text() if text is None else text).splitlines()
    blocks, index = [], 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match or not match.group(1):
            index += 1
            continue
        language, words = match.group(1), match.group(2).split()
        start = index + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise RunbookFormatError(f"{path.name}:{index + 1}: unclosed ``` block")
        body = "\n".join(lines[start:end])
        if language == "sh":
            blocks.append(_shell_block(path, index + 1, words, body))
        elif language == "output":
            if not blocks or blocks[-1].expected is not None or not _only_prose_between(lines, blocks[-1], index):
                raise RunbookFormatError(f"{path.name}:{index + 1}: an output block must follow a sh block")
            previous = blocks.pop()
            blocks.append(Block(previous.path, previous.line, previous.kind, previous.script, previous.status,
                                tuple(line.rstrip() for line in lines[start:end])))
        index = end + 1
    return blocks


def _shell_block(path, line, words, body) -> Block:
    if not body.strip():
        raise RunbookFormatError(f"{path.name}:{line}: an empty sh block")
    kind, status = LOCAL, 0
    for word in words:
        if word == "systemd":
            kind = SYSTEMD
        elif word.startswith("status=") and word[7:].isdigit():
            status = int(word[7:])
        else:
            raise RunbookFormatError(f"{path.name}:{line}: unknown word {word!r} after ```sh")
    return Block(path, line, kind, body, status)


def _only_prose_between(lines, block, output_fence_index) -> bool:
    """An output block belongs to the sh block before it when no other fence stands between."""
    closing = block.line + block.script.count("\n") + 1    # the sh block's closing fence, 0-based
    return not any(line.startswith("```") for line in lines[closing + 1:output_fence_index])


def mismatch(expected: tuple[str, ...], output: str) -> str | None:
    """None when every expected line matches an output line, in order; else what is missing."""
    actual = [line.rstrip() for line in output.splitlines()]
    position = 0
    for wanted in expected:
        pattern = re.compile(".*".join(re.escape(piece) for piece in wanted.split("...")))
        while position < len(actual) and not pattern.fullmatch(actual[position]):
            position += 1
        if position == len(actual):
            return f"no line matching {wanted!r} (in order)"
        position += 1
    return None


def check(block: Block, status: int, output: str) -> None:
    """The step ended as the runbook says it does, and printed what it shows."""
    assert status == block.status, (f"{block.name}: exit status {status}, the runbook says {block.status}\n"
                                    f"--- script\n{block.script}\n--- output\n{output}")
    if block.expected is not None:
        problem = mismatch(block.expected, output)
        assert problem is None, (f"{block.name}: {problem}\n--- the runbook shows\n" + "\n".join(block.expected)
                                 + f"\n--- the step printed\n{output}")


_ASSIGNED = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.M)


def with_shell_state(block: Block, state: str) -> str:
    """The block's script as the steps of a runbook run: in one shell. The variables the earlier
    blocks set (``NAME=`` at the start of a line) are read from the file ``state`` first, and
    the ones this block sets are added to it when it succeeds."""
    names = sorted(set(_ASSIGNED.findall(block.script)))
    save = f'\ndeclare -p {" ".join(names)} >> "{state}"' if names else ""
    return f'if [ -f "{state}" ]; then . "{state}"; fi\n{block.script}{save}\n'


def run_local(block: Block, env: dict, cwd: Path, timeout: float = 120) -> str:
    """Runs a ``sh`` block with bash -euo pipefail in ``cwd``, with the variables earlier blocks
    set (``with_shell_state``); checks it (``check``); returns its output."""
    script = with_shell_state(block, str(Path(cwd) / ".runbook-shell-state"))
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    check(block, result.returncode, result.stdout)
    return result.stdout


def run_in_container(container, block: Block, env: dict, timeout_s: int = 180) -> str:
    """Runs a ``sh systemd`` block in ``container`` (a docker SDK container) as ``run_local`` runs
    a ``sh`` block; ``env``: the runbook variables as they are on that host."""
    script = with_shell_state(block, "/root/.runbook-shell-state")
    status, output = container.exec_run(["timeout", str(timeout_s), "bash", "-euo", "pipefail", "-c", script],
                                        environment=env)
    output = output.decode(errors="replace")
    check(block, status, output)
    return output


class Walk:
    """One runbook's blocks of one kind, run in their order. ``step(piece)`` is the next block,
    which must contain ``piece``; ``done()`` asserts none was left out."""

    def __init__(self, name: str, kind: str, runner):
        """``runner(block) -> output`` runs and checks one block."""
        self.path = RUNBOOKS / name
        self.blocks = [block for block in parse(self.path) if block.kind == kind]
        self.kind = kind
        self._runner = runner
        self._next = 0

    def step(self, piece: str) -> str:
        assert self._next < len(self.blocks), f"{self.path.name}: no {self.kind} block left for {piece!r}"
        block = self.blocks[self._next]
        assert piece in block.script, (f"{block.name}: the next {self.kind} block does not contain {piece!r}; "
                                       f"it is:\n{block.script}")
        self._next += 1
        return self._runner(block)

    def done(self) -> None:
        left = [block.name for block in self.blocks[self._next:]]
        assert not left, f"{self.kind} blocks no test ran: {left}"
