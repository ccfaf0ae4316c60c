"""The lab's capacity, measured: constant-rate steps of the baseline on the running lab, then
bisection between the last rate that met the SLO and the first that missed it, written as the
capacity.json the model's sweep writes (simulation/capacity.py) with source "measured".

Each step is harness/clients/measure.py's open-loop run: an arrival finding every worker busy
is a failed `dropped` op, so a saturated lab shows up as a miss and never as a lighter load.
The SLO is the model sweep's (p95 of the flow, availability >= 99.9 %) plus no dropped arrival.

    >>> midpoint(40.0, 80.0, 0.05), midpoint(40.0, 42.0, 0.05), midpoint(None, 80.0, 0.05)
    (60.0, None, None)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos.nemesis import wait_healthy
from harness.clients import measure as m
from harness.history import Op, completions
from harness.scenario import Scenario
from harness.spec import SpecError
from harness.topology.lab import Lab
from scenarios.checkers import availability, latency
from simulation.capacity import write as write_sweep

AVAILABILITY = 0.999  # as the model's sweep asks of a point that meets the SLO

Measure = Callable[..., tuple[list[Op], dict]]


@dataclass(frozen=True)
class Slo:
    p95_s: float
    flow: str = "rag_query"


@dataclass(frozen=True)
class Step:
    """One measured rate, with the model's Point fields (so capacity.json keeps one shape) and
    what only a lab has: dropped arrivals and the generator's late starts."""

    rps: float
    replicas: int
    p95: dict[str, float]  # per flow, over ok ops
    availability: dict[str, float]
    meets_slo: bool
    requests: int
    dropped: int
    late_starts: int
    max_start_lag_s: float
    phase: str  # "step" (the ladder of --rps) or "bisect"
    # The model's per-station columns: the lab's steps do not measure them.
    utilisation: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    why: str = ""  # what missed the SLO; "" for a step that met it


@dataclass(frozen=True)
class Result:
    steps: list[Step]
    best: float | None  # the highest rate that met the SLO
    first_miss: float | None  # the lowest rate that missed it
    tolerance: float

    @property
    def bracketed(self) -> bool:
        """A pass and a miss within the tolerance: the knee is found, not just bounded."""
        return None not in (self.best, self.first_miss) and midpoint(self.best, self.first_miss, self.tolerance) is None


def midpoint(lo: float | None, hi: float | None, tolerance: float) -> float | None:
    """The next rate to try between a pass and a miss; None once hi - lo <= tolerance x lo (or
    with no bracket)."""
    if lo is None or hi is None or hi - lo <= tolerance * lo:
        return None
    mid = round((lo + hi) / 2, 2)
    return mid if lo < mid < hi else None


def judge(history: list[Op], stats: dict, rps: float, replicas: int, slo: Slo, phase: str) -> Step:
    lat = latency(history)
    avail = {f: a.availability for f, a in availability(history).items()}
    p95 = lat[slo.flow].p95 if slo.flow in lat else float("inf")
    a = avail.get(slo.flow, 0.0)
    dropped = int(stats.get("dropped", sum(op.error == "dropped" for op in completions(history))))
    why = "; ".join(x for x in (
        f"p95 {p95 * 1000:,.0f} ms > {slo.p95_s * 1000:,.0f} ms" if not p95 <= slo.p95_s else "",
        f"availability {a:.4f} < {AVAILABILITY}" if not a >= AVAILABILITY else "",
        f"{dropped} dropped arrivals" if dropped else "") if x)
    return Step(rps, replicas, {f: x.p95 for f, x in lat.items()}, avail, not why, int(stats.get("requests", 0)), dropped,
                int(stats.get("late_starts", 0)), float(stats.get("max_start_lag_s", 0.0)), phase, why=why)


def quiet(cooldown_s: float, healthy: Callable[[Lab], object] | None = None) -> Callable[[Lab], None]:
    """Between steps: every component healthy, then `cooldown_s` more for the queues an overloaded
    step left (a request the client gave up on may still be worked on)."""

    def settle(lab: Lab) -> None:
        (healthy or wait_healthy)(lab)
        if cooldown_s > 0:
            time.sleep(cooldown_s)

    return settle


def replicas_of(lab: Lab) -> int:
    try:
        return lab.plan.topology.params.replicas.of("rag")
    except (AttributeError, SpecError):
        return 1


def sweep(lab: Lab, base: Scenario, rates: list[float], slo: Slo, *, duration_s: float, seed: int = 0,
          tolerance: float = 0.05, workers: int | None = None, measure: Measure | None = None,
          settle: Callable[[Lab], None] | None = None, on_start: Callable[[float, str], None] | None = None,
          on_step: Callable[[Step], None] | None = None) -> Result:
    """The ladder of `rates` (ascending) until the first miss, then bisection between the last
    pass and that miss until they are within `tolerance` of the pass. Rates above a miss are
    never measured: a saturated lab's steps take longest and teach nothing new."""
    measure = measure or m.measure
    settle = settle or quiet(10.0)
    replicas = replicas_of(lab)
    steps: list[Step] = []

    def step(rps: float, phase: str) -> Step:
        settle(lab)
        if on_start:
            on_start(rps, phase)
        history, stats = measure(lab, base.with_load(rps, duration_s), seed=seed, workers=workers)
        s = judge(history, stats, rps, replicas, slo, phase)
        steps.append(s)
        if on_step:
            on_step(s)
        return s

    lo = hi = None
    for rps in sorted(rates):
        if step(rps, "step").meets_slo:
            lo = rps
        else:
            hi = rps
            break
    while (mid := midpoint(lo, hi, tolerance)) is not None:
        if step(mid, "bisect").meets_slo:
            lo = mid
        else:
            hi = mid
    return Result(steps, lo, hi, tolerance)


def write(out: str | Path, result: Result, lab: Lab, slo: Slo, *, duration_s: float, seed: int, scenario: str) -> Path:
    """capacity.json in the model sweep's shape, marked as measured on this lab."""
    return write_sweep(out, result.steps, topology=lab.plan.topology.name, flow=slo.flow, slo_p95_s=slo.p95_s,
                       duration_s=duration_s, seed=seed, source="measured", run_id=lab.run_id, preset=lab.state.preset,
                       scenario=scenario, tolerance=result.tolerance, bracket=[result.best, result.first_miss],
                       bracketed=result.bracketed, availability_slo=AVAILABILITY, no_dropped_arrivals=True)
