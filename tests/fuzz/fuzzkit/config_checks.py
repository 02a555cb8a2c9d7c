"""The properties of every config parse: a Bootstrap or a ConfigError, and a ConfigError that
names real places: each problem is a (path, reason) pair of strings whose path leads into the
tree it was parsed from (a missing field's path ends one step past what is there)."""
from __future__ import annotations

import re

from hotproxy.config import Bootstrap
from hotproxy.errors import ConfigError

from .invariants import expect

# A key step: first, or after a dot, where it may be empty (a Struct may have a key ""); or an index.
_STEP = re.compile(r"^([^.\[\]]+)|\.([^.\[\]]*)|\[(\d+)\]")


def parsed_or_problems(parse, *args):
    """``parse(*args)`` → ``(bootstrap, None)`` or ``(None, problems)``; anything else it raises
    breaks the invariant and propagates."""
    try:
        bootstrap = parse(*args)
    except ConfigError as error:
        check_problems(error)
        return None, error.problems
    expect(isinstance(bootstrap, Bootstrap), "result", lambda: f"got {type(bootstrap)!r}")
    return bootstrap, None


def check_problems(error: ConfigError) -> None:
    expect(bool(error.problems), "problems", "a ConfigError with no problem")
    for problem in error.problems:
        expect(isinstance(problem, tuple) and len(problem) == 2
               and all(isinstance(part, str) for part in problem) and problem[1] != "",
               "problems", lambda: f"malformed problem {problem!r}")
    str(error)


def check_paths_lead_into(tree, problems) -> None:
    """Every problem's path names a node of ``tree``, or a key missing from one of its mappings."""
    for path, reason in problems:
        if path:
            steps = [(first or key, int(index) if index else None)
                     for first, key, index in _STEP.findall(path)]
            expect(_resolves(tree, steps), "problem path",
                   lambda: f"{path!r} ({reason}) is not in the config")


def _resolves(node, steps) -> bool:
    if not steps:
        return True
    key, index = steps[0]
    if index is not None:
        return isinstance(node, list) and index < len(node) and _resolves(node[index], steps[1:])
    if not isinstance(node, dict):
        return False
    # A key may hold dots itself (typed_extension_protocol_options is keyed by extension names).
    for taken in range(1, len(steps) + 1):
        if steps[taken - 1][1] is not None:
            break
        joined = ".".join(key for key, _ in steps[:taken])
        if joined in node and _resolves(node[joined], steps[taken:]):
            return True
    return all(index is None for _, index in steps)  # a missing field, perhaps a dotted one
