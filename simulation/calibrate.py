"""Fit service times from a measured baseline history (`halab calibrate <run-dir>`).

The contract with the harness: an `ok` completion may carry `steps`, a map from step name to
seconds -- the names the services report (STEP_KIND maps them to component kinds; a kind's
own name works too). For the kinds in SERVER_SIDE the value is the component's own time (it
times itself: queueing + work); for every other kind it is the call as its caller saw it,
network included. Calibration subtracts the spec's mean round trip for that call (the
intra-site hop, or the WAN link to the nearest component of that kind; for etcd the trip to
the leader and the commit round trip to a majority), then fits a lognormal by its mean and coefficient of
variation, with the network jitter's variance taken out. Use a baseline at low utilisation:
queueing time is attributed to service.

    >>> from harness.history import Op
    >>> h = [Op(i, "ok", "rag_query", time=1.0, latency=1.0, site="dc1",
    ...         steps={"rag": 0.004 + 0.001 * (i % 3)}) for i in range(30)]
    >>> fit = fit_steps(h, preset("seed"))
    >>> round(fit["rag"].service.mean, 4), fit["rag"].servers
    (0.005, 1)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from harness.history import Op, iter_jsonl
from harness.spec import Topology, preset
from simulation.params import INTRA_SITE_HOP_S, STATIONS, Dist, ModelParams, StationParams

SERVER_SIDE = frozenset({"gateway", "rag", "cms"})
# Step names the services report (system/rag's timings_ms, system/cms's Server-Timing; the
# harness converts them to seconds) -> the component kind whose service time they measure.
# A step named after a kind is that kind.
STEP_KIND = {
    "profile": "mongo", "metadata": "mongo", "mongo_read": "mongo", "mongo_pending": "mongo_write",
    "mongo_active": "mongo_write", "embed": "rag", "search": "vectordb", "etcd_txn": "etcd",
    "opa_compile": "policy_sync",  # OPA compiling a module: what policy_sync's PUT costs too
}
ON_STATION = {"mongo_write": "mongo"}  # a service time that is not a component of its own
IGNORED_STEPS = frozenset({"total", "prompt", "enforce_wait"})  # sums, tiny CPU, or waiting on others


MIN_SAMPLES = 20  # fewer than this and a fit says more about luck than about the component


def step_kind(step: str) -> str | None:
    if step in IGNORED_STEPS:
        return None
    return STEP_KIND.get(step, step if step in STATIONS else None)


def network_s(topo: Topology, kind: str, site: str | None) -> tuple[float, float]:
    """Mean and variance of the network round trips inside a client-observed call to `kind`
    from `site` (a Toxiproxy jitter of +-j adds j^2 / 3 of variance per hop)."""
    if kind in SERVER_SIDE or site is None:
        return 0.0, 0.0
    kind = ON_STATION.get(kind, kind)

    def rtt(a: str, b: str) -> tuple[float, float]:
        if a == b:
            return 2 * INTRA_SITE_HOP_S, 0.0
        link = topo.link(a, b)
        if link is None:
            return 0.0, 0.0
        return 2 * link.latency_ms / 1000.0, 2 * (link.jitter_ms / 1000.0) ** 2 / 3

    sites = [topo.site_of(c.name) for c in topo.components_of(kind)]
    if not sites:
        return 0.0, 0.0
    if kind != "etcd" or len(sites) == 1:
        return min(rtt(site, s) for s in sites)
    # A write goes to the leader -- assumed the first voter of the spec, which both the
    # harness and the model bootstrap first -- via the client's nearest voter, and commits
    # when a majority has it (the model's commit round trip is its mean).
    nearest = min(sites, key=lambda s: rtt(site, s)[0])
    to_nearest = rtt(site, nearest)
    forward = rtt(nearest, sites[0]) if nearest != sites[0] else (0.0, 0.0)
    commit = sorted(rtt(sites[0], s)[0] for s in sites[1:])[len(sites) // 2 - 1]
    return to_nearest[0] + forward[0] + commit, to_nearest[1] + forward[1]


def fit_lognormal(residuals: list[float], network_var: float = 0.0) -> Dist:
    """Moments of the service time from call durations minus the mean network time: the mean
    carries over, and the network's own variance is taken out of the variance."""
    n = len(residuals)
    mean = max(1e-6, sum(residuals) / n)
    var = sum((x - mean) ** 2 for x in residuals) / (n - 1) if n > 1 else 0.0
    var = max(0.0, var - network_var)
    cv = math.sqrt(var) / mean
    return Dist("lognormal", mean, round(cv, 4)) if cv > 0 else Dist("const", mean)


def fit_steps(history: Iterable[Op], topo: Topology) -> dict[str, StationParams]:
    residuals: dict[str, list[float]] = defaultdict(list)
    network_var: dict[str, float] = defaultdict(float)
    for op in history:
        if op.type != "ok" or not op.steps:
            continue
        for step, seconds in op.steps.items():
            kind = step_kind(step)
            if kind is not None:
                mean, var = network_s(topo, kind, op.site)
                residuals[kind].append(seconds - mean)
                network_var[kind] += var
    fitted = {}
    for kind, xs in sorted(residuals.items()):
        if len(xs) >= MIN_SAMPLES and kind in STATIONS:
            fitted[kind] = replace(STATIONS[kind], service=fit_lognormal(xs, network_var[kind] / len(xs)))
    return fitted


def calibrate(run: str | Path, topo: Topology | None = None) -> tuple[ModelParams, dict[str, int]]:
    """Params fitted from `run` (a run directory holding history.jsonl, or the file itself),
    and the number of samples per kind."""
    path = Path(run)
    if path.is_dir():
        path = path / "history.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no history to calibrate from (expected a run directory with history.jsonl)")
    topo = topo or preset("seed")
    ops = [op for op in iter_jsonl(path) if op.type == "ok" and op.steps]
    counts: dict[str, int] = defaultdict(int)
    for op in ops:
        for step in op.steps:
            if (kind := step_kind(step)) is not None:
                counts[kind] += 1
    fitted = fit_steps(ops, topo)
    stations = dict(STATIONS)
    stations.update(fitted)
    return ModelParams(stations=stations, source=str(path)), dict(counts)
