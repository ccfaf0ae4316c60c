"""Read a run directory (scenarios/run_dir.py) for a report: its history, scenario, summary,
verdicts and parameters, whichever of the optional ones it has.

A directory that is not a run directory is refused with the files it lacks named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.history import Op, read_jsonl
from harness.scenario import Scenario

REQUIRED = ("history.jsonl", "scenario.json", "summary.json")


class NotARunDir(ValueError):
    """The directory lacks a file every run directory has; the message names them."""


@dataclass(frozen=True)
class Run:
    path: Path
    history: list[Op]
    scenario: Scenario
    summary: dict[str, Any]
    verdicts: dict[str, Any] | None = None  # verdicts.json, when the catalogue wrote one
    params: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def topology(self) -> str:
        return str(self.summary.get("topology") or "seed")


def missing(path: str | Path) -> list[str]:
    """What `path` lacks to be a run directory (empty: it is one)."""
    path = Path(path)
    if not path.is_dir():
        return [f"{path} is not a directory"]
    return [name for name in REQUIRED if not (path / name).is_file()]


def is_run_dir(path: str | Path) -> bool:
    return not missing(path)


def load(path: str | Path) -> Run:
    path = Path(path)
    lacks = missing(path)
    if lacks:
        raise NotARunDir(f"{path} is not a run directory: it lacks {', '.join(lacks)} "
                         f"(a run directory holds {', '.join(REQUIRED)}; `halab measure`, `halab chaos run` "
                         f"and `halab simulate --out` write one)")
    scenario = Scenario.from_dict(_json(path / "scenario.json"))
    return Run(path, read_jsonl(path / "history.jsonl"), scenario, _json(path / "summary.json"),
               _json(path / "verdicts.json") if (path / "verdicts.json").is_file() else None,
               _json(path / "params.json") if (path / "params.json").is_file() else None)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise NotARunDir(f"{path}: not JSON ({exc})") from None
