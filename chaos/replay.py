"""`halab explore --replay`: the model's worst schedules run on the lab, each healed and healthy
first like a catalogue entry, and scored by the same objective; a measured score far from the
model's (scenarios/objectives.py's `agrees`) is a fidelity finding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chaos.catalogue import run_entry
from harness.topology.lab import Lab
from scenarios.catalogue import entry
from scenarios.checkers.verdict import compose
from scenarios.objectives import agrees, score


def replay(lab: Lab, found: dict, objective: str, *, seed: int, out: Path, on_tick: Callable | None = None) -> dict:
    """Run one of explore.json's `worst` entries on the lab; what to add to it."""
    r, vs = run_entry(lab, entry(found["file"]), seed=seed, out=out / f"replay-{found['rank']}", on_tick=on_tick)
    measured = score(objective, r.history)
    return {"measured": measured, "agrees": agrees(objective, measured, found["score"]),
            "invariants_held": compose(vs), "replay": str(r.out)}
