"""The checkers' verdicts on a run: those `halab chaos run` recorded in verdicts.json, or, for
a run without one that recorded a catalogue entry (scenario.json's `entry`), that entry's
expectations checked now against its history (and said so). The entry is the record's, never
the scenario's display name: a file or an older run named like an entry is not judged as one.
A run with neither has none: nothing is made up."""

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
    ref = run.scenario.entry
    entry = CATALOGUE.get(ref.name) if ref is not None else None
    if entry is not None and run.topology in entry.expect:
        vs = check(run.history, entry.expect[run.topology])
        return Verdicts(f"checked now against the catalogue's expectations for {ref.name} on {run.topology} "
                        f"(the run recorded {ref.spec})", compose(vs), [v.to_dict() for v in vs])
    return Verdicts("none: the run has no verdicts.json and recorded no catalogue entry with expectations for "
                    f"{run.topology}", None, [])
