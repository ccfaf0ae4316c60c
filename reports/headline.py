"""The headline figures of a run, measured beside predicted, with the prediction's error.

The figures come from the checkers (scenarios/compare.py's `figures`, the same functions that
wrote the summary); a figure the run lacks is None and shows as "—", never a guess.

    >>> r = Row("detection time", "s", 10.0, 12.5)
    >>> r.error, round(r.relative_error, 3)
    (2.5, 0.25)
    >>> Row("x", "s", None, 3.0).error is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.history import Op
from scenarios import checkers
from scenarios.checkers.verdict import UNKNOWN
from scenarios.compare import figures

DASH = "—"


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    measured: float | None
    predicted: float | None

    @property
    def error(self) -> float | None:
        """predicted - measured (the model's error in the figure's unit)."""
        if self.measured is None or self.predicted is None:
            return None
        return round(self.predicted - self.measured, 6)

    @property
    def relative_error(self) -> float | None:
        if self.error is None or not self.measured:
            return None
        return self.error / abs(self.measured)

    def cells(self) -> tuple[str, str, str, str]:
        rel = self.relative_error
        err = fmt(self.error)
        if rel is not None:
            err += f" ({rel:+.0%})"
        return self.name + (f" ({self.unit})" if self.unit else ""), fmt(self.measured), fmt(self.predicted), err


def fmt(x: float | None) -> str:
    if x is None:
        return DASH
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.2f}"


def lost_writes(history: list[Op]) -> int | None:
    """Acknowledged policy updates a final read found missing; None when the run cannot tell."""
    v = checkers.no_lost_updates(history)
    if v.valid == UNKNOWN or not v.figures.get("acknowledged"):
        return None  # no final reads, or no acknowledged write to look for
    return len({str(x).split(":", 1)[0] for x in v.figures.get("lost", [])})


def measures(history: list[Op], summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The checkers' figures plus what only the producer knows (the summary's max rate under the SLO)."""
    out = figures(history)
    out["lost_writes"] = lost_writes(history)
    out["max_rate_under_slo_rps"] = (summary or {}).get("max_rate_under_slo_rps")
    return out


def rows(measured: dict[str, Any], predicted: dict[str, Any] | None) -> list[Row]:
    p = predicted or {}
    out = [Row("detection time", "s", measured.get("detection_s"), p.get("detection_s")),
           Row("recovery time", "s", measured.get("recovery_s"), p.get("recovery_s"))]
    flows = sorted(set(measured.get("failed", {})) | set(p.get("failed", {})))
    for f in flows:
        out.append(Row(f"unavailability window, {f}", "s", measured.get("unavailable_s", {}).get(f),
                       p.get("unavailable_s", {}).get(f)))
    for f in flows:
        out.append(Row(f"failed requests, {f}", "", measured.get("failed", {}).get(f), p.get("failed", {}).get(f)))
    for f in flows:
        out.append(Row(f"hung requests (≥ {checkers.HUNG_S:g} s), {f}", "", measured.get("hung", {}).get(f),
                       p.get("hung", {}).get(f)))
    for f in flows:
        out.append(Row(f"longest request, {f}", "s", measured.get("longest_s", {}).get(f), p.get("longest_s", {}).get(f)))
    out.append(Row("dropped arrivals", "", measured.get("dropped"), p.get("dropped")))
    sites = sorted(set(measured.get("propagation_ms", {})) | set(p.get("propagation_ms", {})))
    for site in sites:
        for q in ("p50", "p99"):
            out.append(Row(f"propagation {q}, {site}", "ms", measured.get("propagation_ms", {}).get(site, {}).get(q),
                           p.get("propagation_ms", {}).get(site, {}).get(q)))
    out.append(Row("acknowledged writes lost", "", measured.get("lost_writes"), p.get("lost_writes")))
    out.append(Row("max rate under SLO", "rps", measured.get("max_rate_under_slo_rps"), p.get("max_rate_under_slo_rps")))
    return out
