"""A run directory: what one run leaves behind, the same for a prediction and a measurement.

    history.jsonl   every operation and event (harness/history.py)
    scenario.json   the scenario that ran (harness/scenario.py); its `entry`, when it came from
                    the catalogue: the entry's name and the rps/duration_s it ran at (null: its
                    own), which the reports take its expectations from
    summary.json    the checkers' verdicts on the history, plus what the producer adds
    params.json     the model's parameters (a prediction), or those `halab calibrate` fitted

Reports read two such directories side by side without knowing which produced which.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness.history import Op, write_jsonl
from harness.scenario import Scenario
from scenarios import checkers


def summary(history: list[Op]) -> dict[str, Any]:
    """What every run directory's summary holds: availability, latency, failovers, propagation."""
    asdict = dataclasses.asdict
    return {
        "availability": {f: {**asdict(a), "availability": a.availability}
                         for f, a in checkers.availability(history).items()},
        "latency_s": {f: asdict(x) for f, x in checkers.latency(history).items()},
        "failover": [asdict(x) for x in checkers.failover(history)],
        "propagation": {site: asdict(x) for site, x in checkers.propagation(history).items()},
    }


def write(out: str | Path, *, source: str, topology: str, scenario: Scenario, history: list[Op],
          extra: dict[str, Any] | None = None) -> Path:
    """Write history, scenario and summary (`extra` joins the summary: seed, utilisation...)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(history, out / "history.jsonl")
    (out / "scenario.json").write_text(json.dumps(scenario.to_dict(), indent=2), encoding="utf-8")
    body = {"source": source, "topology": topology, "scenario": scenario.name, **(extra or {}), **summary(history)}
    (out / "summary.json").write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
    return out
