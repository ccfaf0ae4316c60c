"""`halab report --capacity SWEEP_DIR`: the capacity curves of a sweep (`halab capacity --out`),
the utilisation of each station, the rate at which each tier saturates, and the replicas per
DC to plan for a target rate under a p95 SLO. Given more sweeps (`--capacity` again, e.g. the
lab's from `halab capacity-measure`), it draws them on the same axes and sets the highest rate
under the SLO of the model's beside the lab's, with their ratio.

    >>> pts = [Point(100, 1, 0.5, 1.0, {}), Point(200, 1, 1.5, 1.0, {}), Point(100, 2, 0.4, 1.0, {}),
    ...        Point(200, 2, 0.6, 1.0, {})]
    >>> recommend(pts, target_rps=150, slo_s=1.0).replicas
    2
    >>> saturation([Point(100, 1, 0.5, 1.0, {"rag": 0.25}), Point(200, 1, 0.6, 1.0, {"rag": 0.5})])[1]["rag"]
    400.0
    >>> Point(50, 1, 0.5, 1.0, {}, dropped=1).meets(1.0)  # a dropped arrival misses, whatever the p95
    False
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history import completions
from harness.spec import SpecError, preset
from reports import rundir
from reports.headline import DASH
from reports.pages import render
from reports.plots import plt, svg
from scenarios import checkers

AVAILABILITY = 0.999  # as `halab capacity` asks of a point that meets the SLO


class NotASweep(FileNotFoundError):
    """The directory holds no capacity.json; the message says how to make one."""


@dataclass(frozen=True)
class Point:
    rps: float
    replicas: int
    p95_s: float  # of the sweep's flow (NaN or inf: no ok operation)
    availability: float
    utilisation: dict[str, float]
    dropped: int = 0  # arrivals the lab's load generator could not start (the model has none)

    def meets(self, slo_s: float) -> bool:
        return self.p95_s <= slo_s and self.availability >= AVAILABILITY and not self.dropped


@dataclass(frozen=True)
class Sweep:
    path: Path
    topology: str
    flow: str
    slo_s: float
    points: list[Point]
    source: str  # "simulation" (`halab capacity`) or "measured" (`halab capacity-measure`)
    run_id: str | None = None  # the measured lab's
    preset: str | None = None

    @property
    def replicas(self) -> list[int]:
        return sorted({p.replicas for p in self.points})

    @property
    def measured(self) -> bool:
        return self.source == "measured"

    @property
    def label(self) -> str:
        return f"measured on {self.run_id}" if self.measured else "model"


@dataclass(frozen=True)
class Recommendation:
    replicas: int | None
    why: str


def load(path: str | Path) -> Sweep:
    path = Path(path)
    f = path / "capacity.json" if path.is_dir() else path
    if not f.is_file():
        raise NotASweep(f"{path} is not a capacity sweep directory: it lacks capacity.json "
                        f"(`halab capacity --out DIR` writes one)")
    d: dict[str, Any] = json.loads(f.read_text(encoding="utf-8"))
    flow = d.get("flow", "rag_query")
    pts = [Point(float(p["rps"]), int(p["replicas"]), float(p["p95"].get(flow, math.inf)),
                 float(p["availability"].get(flow, 0.0)), dict(p.get("utilisation", {})), int(p.get("dropped", 0)))
           for p in d.get("points", [])]
    if not pts:
        raise NotASweep(f"{f}: the sweep has no points")
    return Sweep(f.parent, str(d.get("topology", "?")), flow, float(d.get("slo_p95_s", 1.0)), pts, str(d.get("source", "?")),
                 d.get("run_id"), d.get("preset"))


@dataclass(frozen=True)
class Highest:
    """One sweep's highest rate under the SLO at one replica count, and the lowest rate above it
    that missed (None: the sweep never missed above it, so the rate is a lower bound)."""

    sweep: Sweep
    replicas: int
    rps: float | None
    first_miss: float | None

    @property
    def open_ended(self) -> bool:
        return self.rps is not None and self.first_miss is None

    @property
    def shown(self) -> str:
        return DASH if self.rps is None else f"{'≥ ' if self.open_ended else ''}{self.rps:,g}"


@dataclass(frozen=True)
class Ratio:
    replicas: int
    predicted: Highest
    measured: Highest

    @property
    def ratio(self) -> float | None:
        """Predicted over measured: 2.2 is the model promising 120 % more than the lab held."""
        if not self.predicted.rps or not self.measured.rps:
            return None
        return self.predicted.rps / self.measured.rps

    @property
    def shown(self) -> str:
        """The ratio and the model's error; a bound when a sweep stopped below its knee."""
        r = self.ratio
        if r is None:
            return DASH
        bound = {(True, False): "≥ ", (False, True): "≤ "}.get((self.predicted.open_ended, self.measured.open_ended))
        if bound is None and self.predicted.open_ended:
            return f"? ({r:.2f} at the highest rates swept: neither found its knee)"
        return f"{bound or ''}{r:.2f} ({(r - 1) * 100:+.0f} %)"


def highest(sweep: Sweep, slo_s: float) -> list[Highest]:
    out = []
    for n, ps in _by_replicas(sweep.points).items():
        best = max((p.rps for p in ps if p.meets(slo_s)), default=None)
        miss = min((p.rps for p in ps if not p.meets(slo_s) and (best is None or p.rps > best)), default=None)
        out.append(Highest(sweep, n, best, miss))
    return out


def ratios(sweeps: list[Sweep], slo_s: float) -> list[Ratio]:
    """Per replica count in both, the first model sweep's highest rate against the first measured one's."""
    model = next((s for s in sweeps if not s.measured), None)
    lab = next((s for s in sweeps if s.measured), None)
    if model is None or lab is None:
        return []
    pred = {h.replicas: h for h in highest(model, slo_s)}
    return [Ratio(h.replicas, pred[h.replicas], h) for h in highest(lab, slo_s) if h.replicas in pred]


@dataclass(frozen=True)
class Measured:
    """A measured load run placed on the sweep's axes: its offered rate (every flow's arrivals,
    as the sweep counts them) and its flow's p95 and availability."""

    name: str
    rps: float
    replicas: int
    p95_s: float
    availability: float

    def meets(self, slo_s: float) -> bool:
        return self.p95_s <= slo_s and self.availability >= AVAILABILITY


def measured(run_dir: str | Path, flow: str) -> Measured:
    """A run directory (`halab load --out`, `halab measure`) as a point; its replicas are its preset's."""
    run = rundir.load(run_dir)
    if run.scenario.faults:
        raise rundir.NotARunDir(f"{run.path} ran faults ({', '.join(f.kind for f in run.scenario.faults)}): "
                                "a capacity point is a fault-free load run")
    duration = run.scenario.load.duration_s
    arrivals = completions(run.history)
    lat = checkers.latency(run.history).get(flow)
    avail = checkers.availability(run.history).get(flow)
    try:
        replicas = preset(run.topology).params.replicas.of("rag")
    except SpecError:
        replicas = 1
    return Measured(run.name, round(len(arrivals) / duration, 2) if duration else 0.0, replicas,
                    lat.p95 if lat else math.inf, avail.availability if avail else 0.0)


def _by_replicas(points: list[Point]) -> dict[int, list[Point]]:
    out: dict[int, list[Point]] = {}
    for p in sorted(points, key=lambda p: (p.replicas, p.rps)):
        out.setdefault(p.replicas, []).append(p)
    return out


def recommend(points: list[Point], target_rps: float, slo_s: float) -> Recommendation:
    """The smallest replica count whose p95 meets the SLO at the target rate: at the lowest
    swept rate at or above it (no interpolation between points, which would flatter a knee)."""
    unknown = []
    for n, ps in _by_replicas(points).items():
        at = next((p for p in ps if p.rps >= target_rps), None)
        if at is None:
            if ps[-1].meets(slo_s):
                unknown.append(n)  # the sweep stopped below the target while still meeting the SLO
            continue
        if at.meets(slo_s):
            return Recommendation(n, f"{n} replica{'s' if n > 1 else ''} per app service: p95 {at.p95_s * 1000:.0f} ms at "
                                     f"{at.rps:g} rps (SLO {slo_s * 1000:.0f} ms, availability {at.availability:.4f})")
    if unknown:
        return Recommendation(None, f"none proven: the sweep for {', '.join(map(str, unknown))} replicas stops below "
                                    f"{target_rps:g} rps; sweep higher rates")
    return Recommendation(None, f"no replica count swept meets p95 <= {slo_s * 1000:.0f} ms at {target_rps:g} rps")


def saturation(points: list[Point]) -> dict[int, dict[str, float | None]]:
    """Per replica count and station kind, the rate at which its busiest server reaches 100 %:
    rate / utilisation at the highest rate still below saturation (utilisation grows in
    proportion to the offered load until then); None for a station the sweep never loaded."""
    out: dict[int, dict[str, float | None]] = {}
    for n, ps in _by_replicas(points).items():
        kinds = sorted({k for p in ps for k in p.utilisation})
        row: dict[str, float | None] = {}
        for k in kinds:
            below = [p for p in ps if 0 < p.utilisation.get(k, 0.0) < 1.0]
            row[k] = round(below[-1].rps / below[-1].utilisation[k], 1) if below else None
        out[n] = row
    return out


def _curves(sweeps: list[Sweep], slo_s: float, target: float | None, runs: list[Measured]) -> str:
    fig, ax = plt.subplots(figsize=(8, 4))
    colour: dict[int, str] = {}
    for sweep in sweeps:
        for n, ps in _by_replicas(sweep.points).items():
            colour.setdefault(n, f"C{len(colour)}")
            ps = [p for p in ps if math.isfinite(p.p95_s)]
            ax.plot([p.rps for p in ps], [p.p95_s * 1000 for p in ps], marker="s" if sweep.measured else "o",
                    ls="--" if sweep.measured else "-", color=colour[n], label=f"{n} replica(s), {sweep.label}")
    for m in runs:
        if math.isfinite(m.p95_s):
            ax.scatter([m.rps], [m.p95_s * 1000], marker="X", s=70, color=colour.get(m.replicas, "k"), zorder=5,
                       label=f"measured: {m.name} ({m.replicas} replica(s))")
    ax.axhline(slo_s * 1000, color="#c0392b", ls="--", lw=1, label=f"SLO {slo_s * 1000:.0f} ms")
    if target:
        ax.axvline(target, color="#555", ls=":", lw=1, label=f"target {target:g} rps")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arrival rate (rps)")
    ax.set_ylabel(f"p95 {sweeps[0].flow} (ms)")
    ax.set_title(f"{sweeps[0].topology}: p95 against arrival rate, per replica count")
    ax.legend(fontsize=7)
    return svg(fig)


def _utilisation(sweep: Sweep) -> str:
    """"" for a sweep without utilisation (the lab's steps do not measure it per station)."""
    if not any(p.utilisation for p in sweep.points):
        return ""
    groups = _by_replicas(sweep.points)
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups) + 1, 3), sharey=True, squeeze=False)
    for ax, (n, ps) in zip(axes[0], groups.items()):
        for k in sorted({k for p in ps for k in p.utilisation}):
            ax.plot([p.rps for p in ps], [p.utilisation.get(k, 0.0) * 100 for p in ps], marker=".", label=k)
        ax.axhline(100, color="#c0392b", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"{n} replica(s)")
        ax.set_xlabel("rps")
    axes[0][0].set_ylabel("busiest server of the kind (%)")
    axes[0][-1].legend(fontsize=7)
    return svg(fig)


@dataclass(frozen=True)
class Written:
    html: Path
    markdown: Path


def build(sweep_dir: str | Path, out: str | Path | None = None, *, target_rps: float | None = None,
          slo_ms: float | None = None, measured_dirs: tuple[str | Path, ...] = (),
          other_sweeps: tuple[str | Path, ...] = ()) -> Written:
    """`measured_dirs`: fault-free load runs to draw on the same axes as the model's curves.
    `other_sweeps`: more sweep directories of the same flow (a measured one beside a model's):
    the recommendation, utilisation and saturation are the first model sweep's (else the first's);
    the pages go to `out` or that sweep's directory."""
    sweeps = [load(d) for d in (sweep_dir, *other_sweeps)]
    if len({s.flow for s in sweeps}) > 1:
        raise NotASweep("the sweeps are of different flows: " + ", ".join(f"{s.path} {s.flow}" for s in sweeps))
    sweep = next((s for s in sweeps if not s.measured), sweeps[0])
    runs = [measured(d, sweep.flow) for d in measured_dirs]
    slo_s = slo_ms / 1000.0 if slo_ms else sweep.slo_s
    rec = recommend(sweep.points, target_rps, slo_s) if target_rps else None
    best = {n: max((p.rps for p in ps if p.meets(slo_s)), default=None) for n, ps in _by_replicas(sweep.points).items()}
    sat = saturation(sweep.points)
    kinds = sorted({k for row in sat.values() for k in row})
    others = [s for s in sweeps if s is not sweep]
    context = dict(sweep=sweep, slo_s=slo_s, target_rps=target_rps, recommendation=rec, best=best, saturation=sat,
                   kinds=kinds, curves_svg=_curves([sweep, *others], slo_s, target_rps, runs),
                   utilisation_svg=_utilisation(sweep), measured=runs, others=others,
                   highest=[h for s in sweeps for h in highest(s, slo_s)] if others else [], ratios=ratios(sweeps, slo_s))
    out = Path(out) if out else sweep.path
    out.mkdir(parents=True, exist_ok=True)
    html, md = out / "capacity.html", out / "capacity.md"
    html.write_text(render("capacity.html.j2", **context), encoding="utf-8")
    md.write_text(render("capacity.md.j2", **context), encoding="utf-8")
    return Written(html, md)
