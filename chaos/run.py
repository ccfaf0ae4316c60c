"""One measured run with faults, in Jepsen's phases: load with the fault schedule (and the
observers), heal, recover, final reads; then the run directory, and the SimPy prediction of
the same scenario beside it.

Example (needs a running lab)::

    result = run(attach(), entry("dc2-down@10/60").scenario, out="reports/out/x")
    result.history[-1].f      # 'converged''
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos import final
from chaos.nemesis import Nemesis, wait_healthy
from chaos.observer import Observer, policy_loads
from chaos.schedule import Schedule
from harness.clients import measure as m
from harness.clients.recorder import Recorder
from harness.history import Op
from harness.scenario import Scenario
from harness.topology.lab import Lab
from harness.waiting import eventually
from scenarios.checkers import heal_time

CONVERGE_S = 90.0  # after heal: the CMS reconciler (grace + interval) and policy_sync's resync fit in it


@dataclass
class RunResult:
    history: list[Op]
    driver: dict
    out: Path | None = None
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def run(lab: Lab, scenario: Scenario, *, seed: int = 0, workers: int | None = None, out: str | Path | None = None,
        on_tick: Callable[[float, list[Op]], None] | None = None, predict: bool = True,
        load: Callable[..., tuple[list[Op], dict]] = m.measure) -> RunResult:
    """`load(lab, scenario, seed=, workers=, on_tick=, during=)` drives the requests:
    harness/clients/measure.py's threads, or Locust (loadtests/run.py)."""
    errors: list[str] = []
    holder: dict[str, Recorder] = {}

    @contextlib.contextmanager
    def during(recorder: Recorder):
        holder["r"] = recorder
        nemesis = Nemesis(lab, record=lambda f, v: recorder.event("nemesis", f, v))
        holder["n"] = nemesis
        with Observer(lab.state, recorder.event, recorder.now, lab.docker):
            schedule = Schedule(nemesis, scenario.faults, recorder.now)
            try:
                with schedule:
                    yield
            finally:
                errors.extend(schedule.errors)
                t0 = time.monotonic()
                healed = nemesis.heal_all()
                if scenario.faults or healed:
                    recorder.event("nemesis", "heal-all", {"healed": healed,
                                                           "seconds": round(time.monotonic() - t0, 3)})
                # Recovery: the observers keep recording while the lab comes back.
                recorder.event("harness", "healthy", {"seconds": round(wait_healthy(lab), 3)})
                _converge(lab, recorder)

    history, driver = load(lab, scenario, seed=seed, workers=workers, on_tick=on_tick, during=during)
    history = sorted(history + policy_loads(history), key=lambda op: op.time)
    result = RunResult(history, driver, errors=errors)
    if out is not None:
        result.out = write(out, lab, scenario, history, driver, errors, predict=predict, seed=seed)
    return result


def _converge(lab: Lab, recorder: Recorder) -> None:
    """Final reads until every store agrees on every policy the run wrote (or CONVERGE_S):
    the reads themselves go into the history for the invariant checkers. `after_heal_s` runs
    from the heal of the last fault (checkers.heal_time: its nemesis `stop`, scheduled or the
    heal-all's) to the reads agreeing, so it bounds the convergence from above; the figure
    itself comes from the observed revisions (checkers.after_heal). Without a heal, from the
    reads' start."""
    ids = {op.value["policy"] for op in recorder.history() if op.f == "policy_update" and op.value}
    admin = lab.consumers[m.ADMIN]
    heal = heal_time(recorder.history())
    t0 = recorder.now() if heal is None else heal
    last: list[dict] = []

    def agreed() -> bool:
        last[:] = final.reads(lab.state, ids, admin)
        by_policy: dict[str, set] = {}
        for r in last:
            by_policy.setdefault(r["policy"], set()).add(r.get("sha256") or "missing")
        return all(len(v) == 1 and "missing" not in v for v in by_policy.values())

    try:
        eventually(agreed, timeout_s=CONVERGE_S, what="every store agreeing on every policy", poll_s=0.5)
        converged = True
    except AssertionError:
        converged = False
    after = recorder.now() - t0
    for r in last:
        recorder.event("final", "policy-read", r)
    recorder.event("final", "converged", {"converged": converged, "after_heal_s": round(after, 3),
                                          "policies": len(ids)})


def write(out, lab: Lab, scenario: Scenario, history: list[Op], driver: dict, errors: list[str], *,
          predict: bool, seed: int) -> Path:
    from scenarios import run_dir

    extra = {"run_id": lab.run_id, **driver, "nemesis_errors": errors}
    path = run_dir.write(out, source="harness", topology=lab.state.preset, scenario=scenario, history=history,
                         extra=extra)
    if predict:
        _predict(path / "prediction", lab.plan.topology, scenario, seed)
    return path


def _predict(out: Path, topology, scenario: Scenario, seed: int) -> None:
    """The model's run of the same spec and scenario, in `halab simulate --out`'s layout; a
    scenario with faults the model does not predict gets a note instead of a guess."""
    from harness.scenario import ScenarioError
    from scenarios import run_dir
    from simulation.run import simulate

    try:
        result = simulate(topology, scenario, seed=seed)
    except ScenarioError as exc:
        out.mkdir(parents=True, exist_ok=True)
        (out / "NOT-PREDICTED.txt").write_text(f"{exc}\n", encoding="utf-8")
        return
    run_dir.write(out, source="simulation", topology=topology.name, scenario=scenario, history=result.history())
