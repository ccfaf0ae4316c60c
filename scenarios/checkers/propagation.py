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
    delays: dict[str, list[float]] = defaultdict(list)
    loaded: dict[str, set[int]] = defaultdict(set)
    acknowledged: set[int] = set()
    for op in history:
        if op.process == "policy_sync" and op.f == "policy-loaded":
            v = op.value
            delays[v["site"]].append(v["delay_s"])
            loaded[v["site"]].add(v["revision"])
        elif op.f == "policy_update" and op.type == "ok" and isinstance(op.value, dict) and "revision" in op.value:
            acknowledged.add(op.value["revision"])
    return {
        site: Propagation(site, summarise(delays[site]), tuple(sorted(acknowledged - loaded[site])))
        for site in sorted(set(delays) | set(loaded))
    }
