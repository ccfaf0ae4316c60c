"""Headline figures of a run directory, measured beside predicted (its `prediction/`).

The same checkers read both histories: detection and recovery (HAProxy marks), seconds a flow
was unavailable (1 s windows under half ok), failed or unknown requests per flow, hung ones
(HUNG_S or more, whatever their outcome) and the longest per flow, policy propagation per
site, and policy convergence after the heal (every site's OPA holding every acknowledged
policy). A figure the model does not produce is None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.history import Op, read_jsonl
from scenarios import checkers


def figures(history: list[Op]) -> dict[str, Any]:
    fos = checkers.failover(history)
    avail = checkers.availability(history)
    hung = checkers.hung(history)
    prop = checkers.propagation(history)
    return {
        "detection_s": _round(fos[0].detection_s) if fos else None,
        "recovery_s": _round(fos[0].recovery_s) if fos else None,
        "unavailable_s": checkers.unavailability(history),
        "failed": {f: a.fail + a.info for f, a in avail.items()},
        "hung": {f: h.count for f, h in hung.items()},
        "longest_s": {f: _round(h.longest_s) for f, h in hung.items()},
        "dropped": sum(op.error == "dropped" for op in history if op.type == "fail"),
        "degraded": sum(1 for op in history if op.type == "ok" and isinstance(op.value, dict) and op.value.get("degraded")),
        "propagation_ms": {site: {"p50": _ms(p.delay.p50), "p99": _ms(p.delay.p99)} for site, p in prop.items()},
        "converged_after_heal_s": _round(checkers.after_heal(history)),
    }


def compare(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """{"measured": figures, "predicted": figures or None}."""
    run_dir = Path(run_dir)
    predicted = run_dir / "prediction" / "history.jsonl"
    return {"measured": figures(read_jsonl(run_dir / "history.jsonl")),
            "predicted": figures(read_jsonl(predicted)) if predicted.exists() else None}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _ms(x: float) -> float | None:
    return None if x != x else round(x * 1000, 1)  # NaN: no event
