"""Policy propagation: from an acknowledged update to each site's OPA having it loaded.

Reads `policy-loaded` events (process "policy_sync", value {"site", "revision", "delay_s"})
and the revisions acknowledged by `ok` policy_update ops (value {"revision"}). Holds the
invariant "after heal every OPA serves the latest acknowledged policy": `missing` lists,
per site, acknowledged revisions that site never loaded.

`after_heal` times that invariant from the heal, out of `revision` events (process
"policy_sync", value {"site", "revision"}: the revision a site's OPA has loaded, as the
observer sees it, chaos/observer.py; the model records the same, simulation/policy.py).
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


def heal_time(history: Iterable[Op]) -> float | None:
    """When the heal of the last fault began: the last nemesis event with phase "stop" (the
    nemesis records it as the heal begins, for a scheduled stop and for the final heal-all
    alike; the model at the instant it heals). None for a run without one."""
    stops = [op.time for op in history if op.process == "nemesis" and isinstance(op.value, dict)
             and op.value.get("phase") == "stop"]
    return max(stops) if stops else None


def after_heal(history: Iterable[Op]) -> float | None:
    """Seconds from the heal (`heal_time`) to the first moment every site's OPA holds every
    policy acknowledged by then: each site's observed revision at least the highest revision
    of an `ok` policy_update up to that moment. None without a heal or `revision` events, or
    if some site never got there.

    The observer records a site's revision only when it changes, so a site's last report
    before the heal may be stale: a site the fault killed restarts with an empty OPA. Such a
    site counts from its first report after the heal (the restarted policy_sync's first full
    sync, or the first update it loads); the others keep what they last reported. Stale are
    the sites a fault names (site-down's target, a partition's pair), and a site that reports
    again at or below its last revision (a restart seen). When no fault names a site (a
    component's or a node's), the history does not say which site lost its OPA: every site
    that reports again after the heal counts from then.

    >>> from harness.history import event
    >>> seen = lambda s, r, t: event("policy_sync", "revision", {"site": s, "revision": r}, t)
    >>> h = [seen("dc1", 5, 1.0), seen("dc2", 5, 1.0), Op(1, "ok", "policy_update", {"revision": 5}, 1.0, 0.1),
    ...      event("nemesis", "site-down", {"target": "dc2", "phase": "stop"}, 10.0),
    ...      seen("dc2", 0, 13.5), seen("dc2", 5, 13.75)]
    >>> after_heal(h)   # dc2's first full sync after its restart; dc1 held revision 5 throughout
    3.75
    >>> after_heal([*h, Op(2, "ok", "policy_update", {"revision": 6}, 13.0, 0.1), seen("dc1", 6, 13.1),
    ...             seen("dc2", 6, 14.0)])   # dc2's sync lacked revision 6, acknowledged at 13 s
    4.0
    """
    history = list(history)
    heal = heal_time(history)
    if heal is None:
        return None
    acks = sorted((op.time, op.value["revision"]) for op in history
                  if op.f == "policy_update" and op.type == "ok" and isinstance(op.value, dict)
                  and isinstance(op.value.get("revision"), int))
    seen = sorted((op.time, op.value["site"], op.value["revision"]) for op in history
                  if op.process == "policy_sync" and op.f == "revision" and isinstance(op.value, dict)
                  and isinstance(op.value.get("revision"), int))
    if not seen:
        return None
    sites = {s for _, s, _ in seen}
    before: dict[str, int] = {s: r for t, s, r in seen if t < heal}  # each site's last report before the heal
    first_after: dict[str, int] = {}
    for t, s, r in seen:
        if t >= heal:
            first_after.setdefault(s, r)
    named = {part.strip() for op in history if op.process == "nemesis" and isinstance(op.value, dict)
             for part in str(op.value.get("target") or "").split(",")} & sites
    stale = {s for s, r in first_after.items() if s not in before or r <= before[s]}
    stale |= named if named else set(first_after)
    held = {s: r for s, r in before.items() if s not in stale}
    i, need = 0, 0

    def caught_up(t: float) -> bool:
        nonlocal i, need
        while i < len(acks) and acks[i][0] <= t:
            need = max(need, acks[i][1])
            i += 1
        return len(held) == len(sites) and min(held.values()) >= need

    if caught_up(heal):
        return 0.0
    for t, s, r in seen:
        if t < heal:
            continue
        # Several policy_syncs in a site: the first to have a revision serves it (policy_loads).
        held[s] = max(held.get(s, r), r)  # a stale site's first report replaces what it had
        if caught_up(t):
            return t - heal
    return None
