"""Verdicts (after Jepsen's checker results): valid true, false or unknown, with the figures.

    >>> ok, bad, odd = Verdict("a", True), Verdict("b", False, {"lost": 1}), Verdict("c", UNKNOWN)
    >>> compose([ok, odd]), compose([ok, bad, odd]), compose([])
    ('unknown', False, True)
    >>> check_safe("boom", lambda: 1 / 0).valid
    'unknown'

False beats unknown beats true (Jepsen's `merge-valid`); a checker that crashes is unknown,
never a pass (`check-safe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

UNKNOWN = "unknown"
Valid = bool | Literal["unknown"]


@dataclass(frozen=True)
class Verdict:
    name: str
    valid: Valid
    figures: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "valid": self.valid, "why": self.why, "figures": self.figures}


def compose(verdicts: Iterable[Verdict]) -> Valid:
    vs = [v.valid for v in verdicts]
    if any(v is False for v in vs):
        return False
    if any(v == UNKNOWN for v in vs):
        return UNKNOWN
    return True


def check_safe(name: str, fn: Callable[..., Verdict], *args, **kwargs) -> Verdict:
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a crashed checker proves nothing either way
        return Verdict(name, UNKNOWN, why=f"checker crashed: {type(exc).__name__}: {exc}")
