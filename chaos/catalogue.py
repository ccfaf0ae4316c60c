"""Run a catalogue scenario (scenarios/catalogue) on a running lab and judge it.

Before it starts, the lab is healed and every component must answer healthy: a lab reused
across scenarios starts each one whole. The run directory gets `verdicts.json` beside the
history, the summary and the model's prediction.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from chaos.nemesis import Nemesis, wait_healthy
from chaos.run import RunResult, run
from harness.scenario import path_part
from harness.topology.lab import Lab
from scenarios.catalogue import Entry
from scenarios.checkers.verdict import Verdict, compose
from scenarios.compare import compare
from scenarios.expect import verdicts


def out_dir(entry: Entry, preset: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path("reports/out") / f"{preset.replace('+', '-')}-{path_part(entry.name)}-{stamp}"


def run_entry(lab: Lab, entry: Entry, *, seed: int = 0, out: str | Path | None = None,
              on_tick=None, load=None) -> tuple[RunResult, list[Verdict]]:
    """`load`: what drives the requests (chaos/run.py's `load`); an entry marked under load
    gets Locust from its caller (loadtests/run.py's under_load), the layer above this one."""
    preset = lab.state.preset
    if preset not in entry.expect:
        raise KeyError(f"scenario {entry.name} has no expectations for {preset}; it runs on {', '.join(entry.presets)}")
    Nemesis(lab).heal_all()
    wait_healthy(lab)
    out = Path(out) if out is not None else out_dir(entry, preset)
    result = run(lab, entry.scenario, seed=seed, out=out, on_tick=on_tick, **({"load": load} if load else {}))
    vs = verdicts(result.history, entry.expect[preset])
    (out / "verdicts.json").write_text(json.dumps({
        "scenario": entry.name, "preset": preset, "valid": compose(vs), "known_miss": entry.xfail or None,
        "verdicts": [v.to_dict() for v in vs], "nemesis_errors": result.errors, "figures": compare(out),
    }, indent=2, default=str), encoding="utf-8")
    return result, vs
