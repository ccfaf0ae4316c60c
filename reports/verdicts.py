"""The checkers' verdicts on a run: those `halab chaos run` recorded in verdicts.json, or, for
a run without one whose scenario is in the catalogue, the catalogue's expectations checked now
against its history (and said so). A run with neither has none: nothing is made up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.rundir import Run
from scenarios.catalogue import CATALOGUE
from scenarios.checkers.verdict import compose
from scenarios.expect import verdicts as check


@dataclass(frozen=True)
class Verdicts:
    source: str  # where they come from, said on the page
    valid: Any  # True | False | "unknown" | None (none)
    items: list[dict[str, Any]]


def of(run: Run) -> Verdicts:
    if run.verdicts is not None:
        return Verdicts("verdicts.json", run.verdicts.get("valid"), list(run.verdicts.get("verdicts", [])))
    entry = CATALOGUE.get(run.scenario.name)
    if entry is not None and run.topology in entry.expect:
        vs = check(run.history, entry.expect[run.topology])
        return Verdicts(f"checked now against the catalogue's expectations for {run.scenario.name} on {run.topology}",
                        compose(vs), [v.to_dict() for v in vs])
    return Verdicts("none: the run has no verdicts.json and its scenario is not in the catalogue", None, [])
