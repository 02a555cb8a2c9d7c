"""The summary table ``strace -c`` writes, parsed: calls (and errors) per system call."""
from __future__ import annotations


def parse_strace_summary(text):
    """{syscall: (calls, errors)} from ``strace -c``'s table; the ``total`` row is left out.
    Lines that are not table rows (headers, rules, strace's own messages) are skipped."""
    counts = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not _is_number(fields[0]):
            continue
        name = fields[-1]
        if name == "total":
            continue
        # % time, seconds, usecs/call, calls, [errors,] syscall
        numbers = fields[3:-1]
        calls = int(numbers[0])
        errors = int(numbers[1]) if len(numbers) > 1 else 0
        previous = counts.get(name, (0, 0))
        counts[name] = (previous[0] + calls, previous[1] + errors)
    return counts


def per_request(counts, requests, idle=None):
    """[(syscall, calls per request, idle calls over the same time)], most frequent first.
    ``idle`` is the same kind of mapping from a run without load, shown beside it."""
    idle = idle or {}
    rows = [(name, calls / max(requests, 1), idle.get(name, (0, 0))[0])
            for name, (calls, _errors) in counts.items()]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True
