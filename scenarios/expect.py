"""What a scenario expects of a run, as data, and the verdicts of a history against it.

    >>> from harness.history import Op
    >>> h = [Op(1, "ok", "rag_query", time=1.0, latency=0.5)]
    >>> [(v.name, v.valid) for v in verdicts(h, Expect(availability={"rag_query": 0.99}))][:2]
    [('availability', True), ('latency-p99', True)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.history import Op
from scenarios import checkers
from scenarios.checkers.invariants import key_rotation_bound
from scenarios.checkers.verdict import Verdict, check_safe


@dataclass(frozen=True)
class Expect:
    """availability: flow -> lowest availability over the run; p99_s: flow -> highest p99
    (over ok ops); detection_s: HAProxy marks a server down within it (None: not checked);
    converge_s: every store agrees on every policy within it after heal."""

    availability: dict[str, float] = field(default_factory=dict)
    p99_s: dict[str, float] = field(default_factory=dict)
    detection_s: float | None = None
    converge_s: float = 60.0
    dropped: int = 0


def verdicts(history: list[Op], expect: Expect) -> list[Verdict]:
    return [
        check_safe("availability", checkers.flows_available, history, expect.availability),
        check_safe("latency-p99", checkers.latency_within, history, expect.p99_s),
        check_safe("detection", checkers.detection_within, history, expect.detection_s),
        check_safe("no-lost-updates", checkers.no_lost_updates, history),
        check_safe("opa-converged", checkers.opa_converged, history, expect.converge_s),
        check_safe("client-kept-up", checkers.no_dropped, history, expect.dropped),
        check_safe("key-rotation-bound", key_rotation_bound, history),
    ]
