"""`halab fidelity`: how far the model's prediction is from the lab, per metric and scenario.

On the running lab: a fault-free baseline calibrates the model (simulation/calibrate.py);
then each catalogue scenario runs N times through the nemesis, and each run is predicted by
the calibrated model with the same scenario and seed. scenarios/fidelity.py scores the pairs.
The run directory holds every run (its calibrated prediction in prediction/), params.json,
fidelity.json and fidelity.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos.catalogue import run_entry
from harness.faults import fault_kind
from harness.history import read_jsonl
from harness.scenario import path_part
from harness.topology.lab import Lab
from scenarios import fidelity, run_dir
from scenarios.catalogue import entry
from simulation.calibrate import calibrate
from simulation.params import ModelParams
from simulation.run import simulate

BASELINE = "baseline"


@dataclass
class Fidelity:
    out: Path
    params: ModelParams
    tables: dict[str, list[fidelity.Row]] = field(default_factory=dict)
    invalid: dict[str, list[str]] = field(default_factory=dict)  # scenario -> runs whose verdict was false


def predict(out: Path, lab: Lab, scenario, params: ModelParams, seed: int) -> Path:
    result = simulate(lab.plan.topology, scenario, params, seed=seed)
    return run_dir.write(out, source="simulation", topology=lab.state.preset, scenario=scenario, history=result.history(),
                         extra={"seed": seed, "params": params.source})


def measure(lab: Lab, scenarios: list[str], runs: int, out: Path, *, seed: int = 0,
            say: Callable[[str], None] = print) -> Fidelity:
    for name in scenarios:  # what cannot be scored fails here, before anything runs
        e = entry(name)
        if lab.state.preset not in e.expect:
            raise KeyError(f"scenario {name} has no expectations for {lab.state.preset}; it runs on {', '.join(e.presets)}")
        unmodelled = sorted({f.kind for f in e.scenario.faults if not fault_kind(f.kind).modelled})
        if unmodelled:
            raise KeyError(f"scenario {name}: the model does not predict {', '.join(unmodelled)} yet, so there is "
                           f"nothing to compare; run it with `halab chaos run {name}`")
    out.mkdir(parents=True, exist_ok=True)
    say(f"baseline on {lab.state.preset}: calibrating the model from it ...")
    base, _ = run_entry(lab, entry(BASELINE), seed=seed, out=out / BASELINE)
    params, counts = calibrate(base.out, lab.plan.topology)
    (out / "params.json").write_text(params.to_json(), encoding="utf-8")
    say(f"  calibrated from {sum(counts.values())} step samples: {', '.join(f'{k} {n}' for k, n in sorted(counts.items()))}")
    result = Fidelity(out, params)
    for e in map(entry, scenarios):
        name = e.name  # a scenario file's own name, not its path, names its directory
        pairs = []
        for i in range(1, runs + 1):
            s = seed + i
            say(f"{name} run {i}/{runs} (seed {s}) ...")
            r, verdicts = run_entry(lab, e, seed=s, out=out / path_part(name) / f"run-{i}")
            pred = predict(r.out / "prediction", lab, e.scenario, params, s)
            if any(v.valid is False for v in verdicts):
                result.invalid.setdefault(name, []).append(f"run-{i}")
            pairs.append((fidelity.metrics(r.history, e.scenario), fidelity.metrics(read_jsonl(pred / "history.jsonl"), e.scenario)))
        result.tables[name] = fidelity.rows(pairs)
    write(result, runs)
    return result


def write(result: Fidelity, runs: int) -> None:
    (result.out / "fidelity.json").write_text(json.dumps({
        "runs": runs, "goal": fidelity.GOAL, "floors": fidelity.FLOORS, "params": str(result.out / "params.json"),
        "invalid_runs": result.invalid,
        "scenarios": {name: [r.to_dict() for r in rows] for name, rows in result.tables.items()},
    }, indent=2), encoding="utf-8")
    notes = ("Not yet measured here: the maximum rate under the SLO (a sweep, "
             "`halab report --capacity SWEEP --measured RUN`).")
    md = [f"# Fidelity: {runs} run(s) per scenario, model calibrated from {BASELINE}\n"]
    md += [fidelity.markdown(name, rows, notes) for name, rows in result.tables.items()]
    (result.out / "fidelity.md").write_text("\n".join(md), encoding="utf-8")
