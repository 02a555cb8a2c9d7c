"""What a fuzz target raises when one of its properties does not hold: an AssertionError that
names the property, so libFuzzer reports the input as a crash."""
from __future__ import annotations


class InvariantBroken(AssertionError):
    def __init__(self, rule: str, detail: str = ""):
        super().__init__(f"{rule}: {detail}" if detail else rule)


def expect(condition: bool, rule: str, detail="") -> None:
    """``detail`` may be a callable, so that describing a failure costs nothing when it holds."""
    if not condition:
        raise InvariantBroken(rule, detail() if callable(detail) else detail)
