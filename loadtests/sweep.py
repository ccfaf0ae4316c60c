"""The highest arrival rate a running lab sustains within an SLO, measured with Locust's open
model: constant-rate steps, each a fresh Locust run, until one misses (p95 of the flow above
the SLO, availability below 99.9 %, or any arrival dropped). Each step also reads the CPU
every container used, so the first to saturate can be named.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.history import completions
from harness.scenario import Load, Scenario
from harness.topology.lab import Lab
from loadtests.cpu import CpuMeter
from loadtests.run import locust_load

AVAILABILITY = 0.999  # as `halab capacity` asks


@dataclass(frozen=True)
class Step:
    rate: float
    achieved_rps: float
    p95_s: float
    p99_s: float
    availability: float
    dropped: int
    cpu_cores: dict[str, float] = field(default_factory=dict)  # container -> cores used, busiest first
    slo_s: float = 1.0

    @property
    def meets(self) -> bool:
        return self.p95_s <= self.slo_s and self.availability >= AVAILABILITY and self.dropped == 0


def _quantile(xs: list[float], q: float) -> float:
    if not xs:
        return math.inf
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(q * len(xs)) - 1)]


def step(lab: Lab, rate: float, duration_s: float, slo_s: float, out: Path, meter: CpuMeter | None,
         flow: str = "rag_query", seed: int = 0, generators: int | None = None) -> Step:
    sc = Scenario(f"sweep-{rate:g}", Load.constant(rate, duration_s))
    if meter:
        meter.start()
    history, _driver = locust_load(lab, sc, out=out, seed=seed, generators=generators)
    cores = meter.cores() if meter else {}
    ops = [op for op in completions(history) if op.f == flow]
    ok = [op.latency for op in ops if op.type == "ok"]
    return Step(rate, round(len(ops) / duration_s, 2), _quantile(ok, 0.95), _quantile(ok, 0.99),
                len(ok) / len(ops) if ops else 0.0, sum(op.error == "dropped" for op in completions(history)),
                cores, slo_s)


def sustainable(lab: Lab, rates: list[float], *, duration_s: float, slo_s: float, out: Path, meter: CpuMeter | None = None,
                seed: int = 0, on_step: Callable[[Step], None] | None = None) -> list[Step]:
    """Steps at `rates` in order, up to and including the first that misses."""
    steps = []
    for rate in rates:
        s = step(lab, rate, duration_s, slo_s, out / f"rate-{rate:g}", meter, seed=seed)
        steps.append(s)
        if on_step:
            on_step(s)
        if not s.meets:
            break
    return steps


def best(steps: list[Step]) -> float | None:
    rates = [s.rate for s in steps if s.meets]
    return max(rates) if rates else None
