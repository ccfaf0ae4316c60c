"""What `halab explore` keeps of a search of the model (simulation/explore.py): the worst
schedules, one per shape (what they break), each shrunk to its smallest form, scored on the
other preset too and written as a scenario file that `halab simulate|measure --scenario` and
`halab chaos run` take; with --replay, the first ones run on the lab (chaos/replay.py);
explore.json records the search and what it kept.

Each kept schedule is a dict, as explore.json's `worst` lists it: rank, found (the faults as
found), found_score, faults (shrunk), score, the other preset's score under its name, file;
a replay adds measured, agrees, invariants_held and replay.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from harness.history import Op
from harness.spec import Topology, preset
from harness.topology.lab import Lab
from simulation import explore as ex


def other_preset(name: str) -> str:
    """The preset the kept schedules are also scored on: what the witness changes."""
    return "seed+witness" if name == "seed" else "seed"


def keep_worst(result: ex.Exploration, topo: Topology, top: int, out: Path) -> list[dict]:
    """Up to `top` schedules that hurt at all, worst first and one per shape, shrunk and written
    as out/schedule-<rank>.json."""
    objective, other_name = result.objective, other_preset(result.preset)
    other = preset(other_name)
    out.mkdir(parents=True, exist_ok=True)
    kept: list[dict] = []
    seen: set = set()
    for found in result.ranked:
        if len(kept) >= top or found.score <= 0:
            break
        if found.shape in seen:
            continue
        small = ex.shrink(topo, objective, found)
        if small.shape in seen:  # the same faults at other times: nothing new to learn
            continue
        seen.add(small.shape)
        i = len(kept) + 1
        sc = ex.scenario_of(small.faults, name=f"explored-{objective}-{i}")
        path = out / f"schedule-{i}.json"
        path.write_text(json.dumps(sc.to_dict(), indent=2), encoding="utf-8")
        kept.append({"rank": i, "found": [asdict(f) for f in found.faults], "found_score": found.score,
                     "faults": [asdict(f) for f in small.faults], "score": small.score,
                     other_name: ex.evaluate(other, objective, small.faults), "file": str(path)})
    return kept


def replay_worst(lab: Lab, kept: list[dict], n: int, objective: str, *, seed: int, out: Path,
                 say: Callable[[str], None], on_tick: Callable[[float, list[Op]], None] | None = None) -> None:
    """The first `n` kept schedules run on the lab; each gains what was measured."""
    from chaos.replay import replay

    for k in kept[:n]:
        say(f"replaying {k['file']} on {lab.run_id} (healed and healthy first) ...")
        k.update(replay(lab, k, objective, seed=seed, out=out, on_tick=on_tick))


def write_summary(out: Path, result: ex.Exploration, topo: Topology, kept: list[dict], *, budget: int, max_faults: int,
                  seed: int) -> Path:
    """explore.json: what was searched, how fast, what was left out, and the kept schedules."""
    path = out / "explore.json"
    path.write_text(json.dumps({
        "preset": result.preset, "objective": result.objective, "budget": budget, "max_faults": max_faults, "seed": seed,
        "tried": result.tried, "seconds": round(result.seconds, 2), "schedules_per_s": round(result.per_second, 2),
        "left_out": [f"{k} {t}" for k, t in ex.total_alone(topo)],
        "run": {"duration_s": ex.DURATION_S, "rps": ex.RPS, "model_seed": ex.MODEL_SEED}, "worst": kept}, indent=2),
        encoding="utf-8")
    return path
