"""How much a run hurt, as one number (larger: worse), from the same checkers that judge runs:
what `halab explore` maximises over fault schedules in the model, and scores a replay with.

    >>> from harness.history import Op
    >>> h = [Op(1, "ok", "rag_query", time=1.0, latency=0.5), Op(2, "fail", "rag_query", time=12.0, latency=0.1)]
    >>> score("availability", h), score("unavailability", h)
    (1.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

from harness.history import Op, completions
from harness.scenario import POLICY_UPDATE, RAG_QUERY
from scenarios import checkers

WINDOW_S = 10.0  # the windowed availability's window
AT_RISK_S = 1.0  # an acknowledged update not loaded at a site this long after the ack is at risk


def lowest_availability(history: list[Op]) -> float:
    """1 - the lowest availability of the query flow over any 10 s window."""
    ws = checkers.windowed_availability(history, WINDOW_S).get(RAG_QUERY, [])
    return round(1.0 - min((w.availability for w in ws), default=1.0), 4)


def longest_unavailability(history: list[Op]) -> float:
    """The longest any flow was unavailable, in seconds (1 s windows under half ok)."""
    return float(max(checkers.unavailability(history).values(), default=0.0))


def convergence(history: list[Op]) -> float:
    """The longest a site took to load an acknowledged update, in seconds; a site that never
    loaded one counts the whole run."""
    worst = 0.0
    end = max((op.time for op in history), default=0.0)
    for p in checkers.propagation(history).values():
        worst = max(worst, end if p.missing else (p.delay.max if p.delay.count else 0.0))
    return round(worst, 3)


def writes_at_risk(history: list[Op]) -> float:
    """Acknowledged policy updates some site had not loaded AT_RISK_S after the ack, or never."""
    acked = {op.value["revision"]: op.time for op in completions(history) if op.f == POLICY_UPDATE and op.type == "ok"
             and isinstance(op.value, dict) and "revision" in op.value}
    loads: dict[str, dict[int, float]] = {}
    for op in history:
        if op.process == "policy_sync" and op.f == "policy-loaded":
            by = loads.setdefault(op.value["site"], {})
            by[op.value["revision"]] = min(by.get(op.value["revision"], math.inf), op.time)
    risky = {r for r, t in acked.items() for by in loads.values() if by.get(r, math.inf) - t > AT_RISK_S}
    return float(len(risky))


def without_key(history: list[Op]) -> float:
    """Seconds (1 s windows) in which a query failed for want of a valid LLM key."""
    return float(len({math.floor(op.start) for op in completions(history) if op.error == "no-llm-key"}))


OBJECTIVES: dict[str, tuple[Callable[[list[Op]], float], str]] = {
    "availability": (lowest_availability, "1 - lowest 10 s availability of rag_query"),
    "unavailability": (longest_unavailability, "longest unavailability window of any flow (s)"),
    "convergence": (convergence, "longest propagation of an acknowledged update to a site (s)"),
    "writes-at-risk": (writes_at_risk, f"acknowledged updates a site had not loaded {AT_RISK_S:g} s later"),
    "no-key": (without_key, "seconds in which queries failed without a valid LLM key"),
}


# How close a measured score must be to the model's to agree: 15 %, or this much near zero
# (a second, an update; availability is a fraction, so a twentieth of it).
AGREE = 0.15
AGREE_FLOOR = {"availability": 0.05}


def agrees(objective: str, measured: float, predicted: float) -> bool:
    """
    >>> agrees("unavailability", 40.0, 44.0), agrees("unavailability", 0.0, 0.8), agrees("availability", 0.22, 0.91)
    (True, True, False)
    """
    return abs(measured - predicted) <= max(AGREE * max(measured, predicted), AGREE_FLOOR.get(objective, 1.0))


def score(objective: str, history: list[Op]) -> float:
    if objective not in OBJECTIVES:
        raise KeyError(f"no objective {objective!r}: choose from {', '.join(OBJECTIVES)}")
    return OBJECTIVES[objective][0](history)
