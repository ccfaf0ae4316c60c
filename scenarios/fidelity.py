"""Prediction against measurement, metric by metric, over several runs of one scenario.

Every metric comes from the checkers, read the same way from a measured history and from the
model's. A metric is within the goal when the predicted median is within 10 % of the measured
median, or within an absolute floor for figures near zero (where 10 % is below what either
side can resolve): 0.5 s for durations, 5 ms for latencies, 2 for counts.

    >>> r = Row("detection (s)", "s", [10.3, 10.9, 11.2], [10.1, 10.1, 10.2])
    >>> r.measured_median, r.predicted_median, round(r.relative_error, 3), r.within
    (10.9, 10.1, -0.073, True)
    >>> Row("failed, rag_query", "", [1, 0, 3], [0, 0, 0]).within   # |0 - 1| <= 2: too few to tell apart
    True
    >>> Row("x (s)", "s", [], [1.0]).within is None
    True
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from harness.history import Op
from harness.scenario import Scenario
from scenarios import checkers

GOAL = 0.10
FLOORS = {"s": 0.5, "ms": 5.0, "": 2.0}


def metrics(history: list[Op], scenario: Scenario) -> dict[str, tuple[float | None, str]]:
    """name -> (value, unit) for one run; None where the run does not show it."""
    out: dict[str, tuple[float | None, str]] = {}
    fos = checkers.failover(history)
    out["failover detection"] = (fos[0].detection_s if fos else None, "s")
    out["recovery after heal"] = (fos[0].recovery_s if fos else None, "s")
    for f, s in checkers.unavailability(history).items():
        out[f"unavailable, {f}"] = (s, "s")
    for f, a in checkers.availability(history).items():
        out[f"failed requests, {f}"] = (float(a.fail + a.info), "")
    for f, h in checkers.hung(history).items():
        out[f"hung requests, {f}"] = (float(h.count), "")
    windows = []
    if scenario.faults:
        start = min(f.start_s for f in scenario.faults)
        stop = max(f.stop_s if f.stop_s is not None else scenario.load.duration_s for f in scenario.faults)
        windows = [("before the fault", 0.0, start), ("during the fault", start, stop)]
    else:
        windows = [("whole run", 0.0, float("inf"))]
    for label, a, b in windows:
        for f, lat in checkers.latency(history, a, b).items():
            for q in ("p50", "p95", "p99"):
                out[f"{f} {q}, {label}"] = (getattr(lat, q) * 1000, "ms")
    for site, p in checkers.propagation(history).items():
        for q in ("p50", "p99"):
            v = getattr(p.delay, q)
            out[f"propagation {q}, {site}"] = (None if v != v else v * 1000, "ms")
    # From the heal to every site's OPA holding every acknowledged policy (checkers.after_heal).
    out["policy convergence after heal"] = (checkers.after_heal(history), "s")
    for group, s in checkers.leaderless(history).items():
        out[f"without a Raft leader, {group}"] = (s, "s")
    return out


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    measured: list[float]
    predicted: list[float]

    @property
    def measured_median(self) -> float | None:
        return statistics.median(self.measured) if self.measured else None

    @property
    def predicted_median(self) -> float | None:
        return statistics.median(self.predicted) if self.predicted else None

    @property
    def spread(self) -> tuple[float, float] | None:
        return (min(self.measured), max(self.measured)) if self.measured else None

    @property
    def error(self) -> float | None:
        if self.measured_median is None or self.predicted_median is None:
            return None
        return self.predicted_median - self.measured_median

    @property
    def relative_error(self) -> float | None:
        return None if self.error is None or not self.measured_median else self.error / abs(self.measured_median)

    @property
    def within(self) -> bool | None:
        if self.error is None:
            return None
        return abs(self.error) <= max(GOAL * abs(self.measured_median), FLOORS.get(self.unit, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.name, "unit": self.unit, "measured": self.measured, "predicted": self.predicted,
                "measured_median": self.measured_median, "spread": self.spread, "predicted_median": self.predicted_median,
                "error": self.error, "relative_error": self.relative_error, "within_goal": self.within}


def rows(runs: list[tuple[dict, dict]]) -> list[Row]:
    """One Row per metric over (measured metrics, predicted metrics) pairs, one pair per run."""
    names: dict[str, str] = {}
    for m, p in runs:
        for name, (_v, unit) in [*m.items(), *p.items()]:
            names.setdefault(name, unit)
    return [Row(name, unit, [m[name][0] for m, _ in runs if m.get(name, (None,))[0] is not None],
                [p[name][0] for _, p in runs if p.get(name, (None,))[0] is not None]) for name, unit in names.items()]


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:,.2f}".rstrip("0").rstrip(".")


def cells(r: Row) -> list[str]:
    spread = "—" if r.spread is None else f"{_fmt(r.spread[0])}–{_fmt(r.spread[1])}"
    err = "—" if r.error is None else _fmt(r.error) + (f" ({r.relative_error:+.0%})" if r.relative_error is not None else "")
    within = {True: "yes", False: "NO", None: "—"}[r.within]
    return [r.name + (f" ({r.unit})" if r.unit else ""), _fmt(r.measured_median), spread, _fmt(r.predicted_median), err,
            within]


HEADER = ["metric", "measured median", "spread", "predicted median", "error", "within goal"]


def markdown(title: str, table: list[Row], notes: str = "") -> str:
    lines = [f"## {title}", "", "| " + " | ".join(HEADER) + " |", "|---|---:|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in table]
    scored = [r for r in table if r.within is not None]
    lines += ["", f"{sum(bool(r.within) for r in scored)} of {len(scored)} metrics within the goal "
              f"(±{GOAL:.0%}, or {FLOORS['s']} s / {FLOORS['ms']:g} ms / {FLOORS['']:g} requests near zero)."]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"
