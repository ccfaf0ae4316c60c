"""Search the model for the fault schedules that hurt most (`halab explore`).

hypothesis draws schedules (up to K faults of the kinds the model predicts, on any target of
the preset, whole seconds inside a short low-rate run) and is steered by `target()` towards
the worst score of one objective (scenarios/objectives.py). Each schedule runs in the SimPy
model with one fixed seed, so a score belongs to the schedule alone. Two processes search
with different seeds when two cores are free. The worst schedules are then shrunk greedily,
keeping at least SHRINK_KEEP of the score: a fault that does not matter is dropped, a site or
node fault narrowed to the one component that matters, and a fault shortened.

    >>> from harness.spec import preset
    >>> ("site-down", "dc2") in candidates(preset("seed")) and ("partition", "dc1,dc2") in candidates(preset("seed"))
    True
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, settings, target
from hypothesis import seed as hseed
from hypothesis import strategies as st

from harness.faults import FAULT_KINDS, TargetError, resolve
from harness.scenario import Fault, Load, Scenario, ScenarioError, Stage
from harness.spec import Topology, preset
from scenarios.objectives import score
from simulation.run import simulate

DURATION_S = 60  # a schedule's run: short and low-rate, so that thousands fit in minutes
RPS = 8.0
MIX = (("rag_query", 0.75), ("policy_update", 0.25))
MODEL_SEED = 1
SHRINK_KEEP = 0.9


def base(duration_s: int = DURATION_S) -> Load:
    return Load((Stage(float(duration_s), RPS),), MIX)


def candidates(topo: Topology) -> list[tuple[str, str]]:
    """(kind, target) for every fault the model predicts on this spec that the architecture
    claims to survive alone: sites, nodes, components and kinds, and every link both ways
    (the model's links are symmetric), except those that leave some kind with no live
    instance (`total_alone`): those hurt by construction, and a search would only find them."""
    names = {"site": [s.name for s in topo.sites], "node": [n.name for s in topo.sites for n in s.nodes],
             "component": [c.name for c in topo.components] + sorted({c.kind for c in topo.components}),
             "link": [f"{a.name},{b.name}" for i, a in enumerate(topo.sites) for b in topo.sites[i + 1:]]}
    out = []
    for kind, fk in FAULT_KINDS.items():
        if not fk.modelled:
            continue
        for t in names.get(fk.target, []):
            try:
                hit = resolve(topo, kind, t)
            except TargetError:
                continue
            if not _leaves_a_kind_empty(topo, hit.components):
                out.append((kind, t))
    return out


def _leaves_a_kind_empty(topo: Topology, killed: tuple[str, ...]) -> bool:
    gone = set(killed)
    return any(all(c.name in gone for c in topo.components_of(k)) for k in {c.kind for c in topo.components if c.name in gone})


def empties_a_kind(topo: Topology, faults: tuple[Fault, ...]) -> bool:
    """Whether at some instant the faults together leave a kind with no live instance (both
    gateways down at once, say): a total outage by construction, which a search would only
    rediscover.

        >>> from harness.spec import preset
        >>> t = preset("seed")
        >>> empties_a_kind(t, (Fault("component-down", "gateway1", 0, 30), Fault("component-down", "gateway2", 20, 40)))
        True
        >>> empties_a_kind(t, (Fault("component-down", "gateway1", 0, 10), Fault("component-down", "gateway2", 20, 40)))
        False
    """
    for f in faults:  # the set of faults active changes only at a start
        active = [g for g in faults if g.start_s <= f.start_s < (g.stop_s if g.stop_s is not None else float("inf"))]
        hit = {c for g in active for c in resolve(topo, g.kind, g.target).components}
        if _leaves_a_kind_empty(topo, tuple(hit)):
            return True
    return False


def total_alone(topo: Topology) -> list[tuple[str, str]]:
    """The faults left out of the search: each alone leaves a kind with no live instance."""
    names = [s.name for s in topo.sites] + [c.name for c in topo.components]
    out = []
    for kind in ("site-down", "component-down"):
        for t in names:
            try:
                hit = resolve(topo, kind, t)
            except TargetError:
                continue
            if _leaves_a_kind_empty(topo, hit.components):
                out.append((kind, t))
    return out


def schedules(cands: list[tuple[str, str]], duration_s: int, max_faults: int):
    fault = st.tuples(st.sampled_from(cands), st.integers(0, duration_s - 1), st.integers(1, duration_s)).map(
        lambda t: Fault(t[0][0], t[0][1], float(t[1]), float(min(t[1] + t[2], duration_s))))
    return st.lists(fault, min_size=1, max_size=max_faults).map(tuple)


def scenario_of(faults: tuple[Fault, ...], name: str = "explored", duration_s: int = DURATION_S) -> Scenario:
    text = "; ".join(f"{f.kind} {f.target} {f.start_s:g}-{f.stop_s:g} s" for f in faults)
    return Scenario(name, base(duration_s), tuple(sorted(faults, key=lambda f: f.start_s)),
                    f"Found by halab explore: {text}.")


def evaluate(topo: Topology, objective: str, faults: tuple[Fault, ...], duration_s: int = DURATION_S) -> float | None:
    """The schedule's score in the model; None when the model cannot run it."""
    try:
        return score(objective, simulate(topo, scenario_of(faults, duration_s=duration_s), seed=MODEL_SEED).history())
    except ScenarioError:
        return None


@dataclass(frozen=True)
class Found:
    faults: tuple[Fault, ...]
    score: float

    @property
    def key(self) -> tuple:
        """The schedule as a hashable value (a Fault's options are a dict)."""
        return tuple(sorted((f.kind, f.target, f.start_s, f.stop_s) for f in self.faults))

    @property
    def shape(self) -> frozenset:
        """What it breaks, whatever the times: two schedules of one shape teach the same thing."""
        return frozenset((f.kind, f.target) for f in self.faults)


def _search(preset_name: str, objective: str, budget: int, max_faults: int, search_seed: int, duration_s: int,
            progress: Callable[[int, float], None] | None = None) -> list[Found]:
    topo = preset(preset_name)
    found: list[Found] = []
    best = [0.0]

    @settings(max_examples=budget, database=None, deadline=None, derandomize=False, phases=[Phase.generate, Phase.target],
              suppress_health_check=list(HealthCheck))
    @hseed(search_seed)
    @given(schedules(candidates(topo), duration_s, max_faults))
    def probe(faults):
        if empties_a_kind(topo, faults):
            return  # total by construction, as the single faults left out
        s = evaluate(topo, objective, faults, duration_s)
        if s is None:
            return
        target(s, label=objective)
        found.append(Found(faults, s))
        best[0] = max(best[0], s)
        if progress:
            progress(len(found), best[0])

    probe()
    return found


_COUNTER = _BEST = None


def _init(counter, best) -> None:
    global _COUNTER, _BEST
    _COUNTER, _BEST = counter, best


def _worker(args) -> list[Found]:
    def tick(_n: int, best: float) -> None:
        with _COUNTER.get_lock():
            _COUNTER.value += 1
        with _BEST.get_lock():
            _BEST.value = max(_BEST.value, best)

    return _search(*args, progress=tick)


@dataclass
class Exploration:
    preset: str
    objective: str
    tried: int
    seconds: float
    ranked: list[Found]  # distinct schedules, worst first

    @property
    def per_second(self) -> float:
        return self.tried / self.seconds if self.seconds else 0.0


def explore(preset_name: str, objective: str, *, budget: int, max_faults: int, seed: int = 0,
            duration_s: int = DURATION_S, processes: int | None = None,
            on_progress: Callable[[int, float, float], None] | None = None) -> Exploration:
    """Search `budget` schedules (split over `processes`, default: up to two cores);
    `on_progress(scored, elapsed_s, best_score)` now and then."""
    import multiprocessing as mp

    procs = processes or max(1, min(2, os.cpu_count() or 1))
    t0 = time.monotonic()
    if procs == 1:
        found = _search(preset_name, objective, budget, max_faults, seed, duration_s,
                        progress=(lambda n, b: on_progress(n, time.monotonic() - t0, b)) if on_progress else None)
    else:
        ctx = mp.get_context("fork")  # the search is pure Python; a fork starts in milliseconds
        counter, best = ctx.Value("i", 0), ctx.Value("d", 0.0)
        shares = [budget // procs + (1 if i < budget % procs else 0) for i in range(procs)]
        with ProcessPoolExecutor(procs, mp_context=ctx, initializer=_init, initargs=(counter, best)) as pool:
            futures = [pool.submit(_worker, (preset_name, objective, n, max_faults, seed + i, duration_s))
                       for i, n in enumerate(shares)]
            while not all(f.done() for f in futures):
                time.sleep(0.5)
                if on_progress:
                    on_progress(counter.value, time.monotonic() - t0, best.value)
            found = [x for f in futures for x in f.result()]
    seconds = time.monotonic() - t0
    ranked: dict[tuple, Found] = {}
    for f in sorted(found, key=lambda f: -f.score):
        ranked.setdefault(f.key, f)
    return Exploration(preset_name, objective, len(found), seconds, list(ranked.values()))


SHRINK_EVALS = 150  # model runs per shrink at most (~7 s)


def shrink(topo: Topology, objective: str, found: Found, duration_s: int = DURATION_S) -> Found:
    """The smallest schedule keeping SHRINK_KEEP of the score: greedy, one change at a time,
    within SHRINK_EVALS model runs."""
    threshold = found.score * SHRINK_KEEP
    cur = found
    evals = [0]

    def holds(faults: tuple[Fault, ...]) -> Found | None:
        if evals[0] >= SHRINK_EVALS:
            return None
        evals[0] += 1
        s = evaluate(topo, objective, faults, duration_s) if faults else None
        return Found(faults, s) if s is not None and s >= threshold and s > 0 else None

    changed = True
    while changed and evals[0] < SHRINK_EVALS:
        changed = False
        fs = cur.faults
        trials: list[tuple[Fault, ...]] = [fs[:i] + fs[i + 1:] for i in range(len(fs))]  # drop one
        for i, a in enumerate(fs):  # one fault where two hit the same target
            for j in range(i + 1, len(fs)):
                b = fs[j]
                if (a.kind, a.target) == (b.kind, b.target):
                    merged = dataclasses.replace(a, start_s=min(a.start_s, b.start_s), stop_s=max(a.stop_s, b.stop_s))
                    trials.append(tuple(f for k, f in enumerate(fs) if k not in (i, j)) + (merged,))
        for i, f in enumerate(fs):
            if f.kind in ("site-down", "node-crash"):  # narrow to one component
                for c in resolve(topo, f.kind, f.target).components:
                    trials.append(fs[:i] + (dataclasses.replace(f, kind="component-down", target=c),) + fs[i + 1:])
            length = f.stop_s - f.start_s
            if length > 1:  # shorten: by half, else by a second at either end
                for shorter in (dataclasses.replace(f, stop_s=f.start_s + max(1.0, float(int(length // 2)))),
                                dataclasses.replace(f, stop_s=f.stop_s - 1.0), dataclasses.replace(f, start_s=f.start_s + 1.0)):
                    trials.append(fs[:i] + (shorter,) + fs[i + 1:])
        for t in trials:
            if (better := holds(t)) is not None:
                cur, changed = better, True
                break
    return cur
