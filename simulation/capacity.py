"""Capacity planning: sweep the request rate and the replicas per app service, report p95
latency and utilisation per component kind, and the highest rate that meets a p95 SLO.

    >>> parse_range("50..400", points=4, geometric=True)
    [50.0, 100.0, 200.0, 400.0]
    >>> parse_range("1..3"), parse_range("100,300")
    ([1.0, 2.0, 3.0], [100.0, 300.0])
    >>> parse_duration("1s"), parse_duration("800ms"), parse_duration("1.5")
    (1.0, 0.8, 1.5)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.scenario import Load, Scenario
from harness.spec import Replicas, Topology
from simulation.params import ModelParams
from simulation.run import simulate

# Kinds worth a utilisation column: the queueing stations (external APIs are delays).
KINDS = ("gateway", "opa", "rag", "vectordb", "cms", "etcd")


def parse_range(text: str, points: int = 8, geometric: bool = False) -> list[float]:
    """"A..B" (integers stepping by 1, or `points` values, geometric if asked) or "a,b,c"."""
    if ".." in text:
        lo, hi = (float(x) for x in text.split("..", 1))
        if hi < lo:
            raise ValueError(f"empty range {text!r}")
        if not geometric and lo.is_integer() and hi.is_integer() and hi - lo < 50:
            return [float(x) for x in range(int(lo), int(hi) + 1)]
        if points < 2 or lo == hi:
            return [lo]
        if geometric:
            return [round(lo * (hi / lo) ** (i / (points - 1)), 1) for i in range(points)]
        return [round(lo + (hi - lo) * i / (points - 1), 1) for i in range(points)]
    return [float(x) for x in text.split(",") if x.strip()]


def parse_duration(text: str) -> float:
    text = text.strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000.0
    if text.endswith("s"):
        return float(text[:-1])
    return float(text)


@dataclass(frozen=True)
class Point:
    rps: float
    replicas: int
    p95: dict[str, float]
    availability: dict[str, float]
    utilisation: dict[str, float]  # kind -> the busiest component of that kind
    meets_slo: bool
    # Machine -> its cores' utilisation (simulation/cpu.py): {"host": u}, or one per node's VM;
    # empty when the params give no CPU demand.
    cpu: dict[str, float] = field(default_factory=dict)


def with_replicas(topo: Topology, n: int) -> Topology:
    return topo.with_params(replicas=Replicas(*(n for _ in dataclasses.fields(Replicas))))


def sweep(topo: Topology, rates: list[float], replicas: list[int], slo_p95_s: float, duration_s: float = 30.0,
          params: ModelParams | None = None, seed: int = 0, flow: str = "rag_query",
          on_point: Callable[[Point], None] | None = None, cpu: str | None = None) -> list[Point]:
    """One baseline run per (replicas, rate). Past the first rate that misses the SLO by 3x,
    higher rates are skipped: the system is saturated and the runs would only be slow.
    `cpu`: where the cores are, "host" (the lab) or "vms" (production); None: the params'."""
    if cpu is not None:
        params = dataclasses.replace(params or ModelParams(), cpu=cpu)
    points = []
    for n in replicas:
        t = with_replicas(topo, n)
        for rps in rates:
            r = simulate(t, Scenario(f"capacity-{rps}", Load.constant(rps, duration_s)), params, seed)
            lat = r.latency()
            avail = {f: a.availability for f, a in r.availability().items()}
            util: dict[str, float] = {}
            for name, u in r.utilisation().items():
                kind = r.model.stations[name].kind
                util[kind] = max(util.get(kind, 0.0), u)
            p95 = {f: x.p95 for f, x in lat.items()}
            flow_p95 = p95.get(flow, float("inf"))
            ok = flow_p95 <= slo_p95_s and avail.get(flow, 0.0) >= 0.999
            point = Point(rps, n, p95, avail, util, ok, r.cpu_utilisation())
            points.append(point)
            if on_point:
                on_point(point)
            if flow_p95 > 3 * slo_p95_s or avail.get(flow, 0.0) < 0.9:
                break
    return points


def write(out, points: list, *, topology: str, flow: str, slo_p95_s: float, duration_s: float, seed: int,
          cpu: str | None = None, source: str = "simulation", **meta):
    """A sweep directory: capacity.json with every point and how the sweep ran (what
    `halab report --capacity` reads). The lab's measured sweep (chaos/capacity_sweep.py) writes
    the same file with source "measured", its own Point (these fields and more) and `meta`."""
    import json
    from pathlib import Path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    body = {"kind": "capacity-sweep", "source": source, "topology": topology, "flow": flow, "slo_p95_s": slo_p95_s,
            "duration_s": duration_s, "seed": seed, "cpu": cpu, **meta, "points": [dataclasses.asdict(p) for p in points]}
    path = out / "capacity.json"
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    return path


def best_rates(points: list[Point]) -> dict[int, float | None]:
    """Per replica count, the highest rate that met the SLO (None if none did)."""
    out: dict[int, float | None] = {}
    for p in points:
        out.setdefault(p.replicas, None)
        if p.meets_slo and (out[p.replicas] is None or p.rps > out[p.replicas]):
            out[p.replicas] = p.rps
    return out
