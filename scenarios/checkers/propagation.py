"""Policy propagation: from an acknowledged update to each site's OPA having it loaded.

Reads `policy-loaded` events (process "policy_sync", value {"site", "revision", "delay_s"})
and the revisions acknowledged by `ok` policy_update ops (value {"revision"}). Holds the
invariant "after heal every OPA serves the latest acknowledged policy": `missing` lists,
per site, acknowledged revisions that site never loaded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import Op
from scenarios.checkers.latency import Latency, summarise


@dataclass(frozen=True)
class Propagation:
    site: str
    delay: Latency
    missing: tuple[int, ...]

    @property
    def valid(self) -> bool:
        return not self.missing


def propagation(history: Iterable[Op]) -> dict[str, Propagation]:
    """Per site, the delay from each acknowledged update to its first load there, 0 when the
    site had it before the acknowledgement arrived (the CMS answers after its MongoDB write).
    The measured history's events already say so (chaos/observer.py); the model's count from
    the commit, so the delay is taken from the acknowledgement here, the same for both. A load
    of a revision nobody acknowledged is left out, unless the history acknowledges none at all
    (a benchmark's, the events' own delay then)."""
    history = list(history)
    acks: dict[int, float] = {}
    for op in history:
        if op.f == "policy_update" and op.type == "ok" and isinstance(op.value, dict) and "revision" in op.value:
            acks.setdefault(op.value["revision"], op.time)
    first: dict[tuple[str, int], Op] = {}  # the first load of a revision at a site is its propagation
    for op in history:
        if op.process == "policy_sync" and op.f == "policy-loaded":
            key = (op.value["site"], op.value["revision"])
            if key not in first or op.time < first[key].time:
                first[key] = op
    delays: dict[str, list[float]] = defaultdict(list)
    loaded: dict[str, set[int]] = defaultdict(set)
    for (site, revision), op in first.items():
        loaded[site].add(revision)
        if revision in acks:
            delays[site].append(max(0.0, op.time - acks[revision]))
        elif not acks:
            delays[site].append(op.value["delay_s"])
    return {
        site: Propagation(site, summarise(delays[site]), tuple(sorted(set(acks) - loaded[site])))
        for site in sorted(set(delays) | set(loaded))
    }
