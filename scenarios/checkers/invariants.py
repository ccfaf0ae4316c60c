"""The invariants of DESIGN section 4 as checkers: pure functions from a history to a Verdict.

Policies are checked against the final reads (`final` / `policy-read` events: what MongoDB,
every etcd member and every OPA hold after heal, chaos/final.py) and the acknowledged
updates (`ok` policy_update ops carry the version and the content's sha256).

    >>> from harness.history import Op, event
    >>> ack = Op(1, "ok", "policy_update", {"policy": "p", "version": 3, "sha256": "s3"}, 1.0, 0.1)
    >>> reads = [event("final", "policy-read", {"policy": "p", "store": s, "version": 3, "sha256": "s3"}, 9.0)
    ...          for s in ("mongo", "etcd1", "opa1")]
    >>> no_lost_updates([ack, *reads]).valid, opa_converged([ack, *reads]).valid
    (True, True)
    >>> later = Op(2, "ok", "policy_update", {"policy": "p", "version": 4, "sha256": "s4"}, 2.0, 0.1)
    >>> no_lost_updates([ack, later, *reads]).figures["lost"]
    ['p: acked v4, MongoDB has v3']
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from harness.history import Op
from scenarios.checkers.availability import availability, windowed_availability
from scenarios.checkers.events import failover
from scenarios.checkers.latency import latency
from scenarios.checkers.propagation import after_heal, heal_time
from scenarios.checkers.verdict import UNKNOWN, Verdict


def _acked(history: Iterable[Op]) -> dict[str, dict]:
    """policy -> the acknowledged update with the highest version."""
    out: dict[str, dict] = {}
    for op in history:
        if op.f == "policy_update" and op.type == "ok" and isinstance(op.value, dict) and op.value.get("version"):
            v = op.value
            if v["policy"] not in out or v["version"] > out[v["policy"]]["version"]:
                out[v["policy"]] = v
    return out


def _reads(history: Iterable[Op]) -> dict[str, dict[str, dict]]:
    """policy -> store -> the final read."""
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for op in history:
        if op.process == "final" and op.f == "policy-read":
            out[op.value["policy"]][op.value["store"]] = op.value
    return out


def no_lost_updates(history: list[Op]) -> Verdict:
    """Every acknowledged update survives: MongoDB holds its version (or a later one), and
    every etcd member holds the content MongoDB calls active."""
    acked, reads = _acked(history), _reads(history)
    if acked and not reads:
        return Verdict("no-lost-updates", UNKNOWN, why="no final reads in the history")
    lost = []
    for pid, ack in acked.items():
        r = reads.get(pid, {})
        mongo = r.get("mongo", {})
        if not mongo or mongo.get("error"):
            lost.append(f"{pid}: MongoDB unread")
            continue
        if (mongo.get("version") or 0) < ack["version"] or (
                mongo["version"] == ack["version"] and mongo.get("sha256") != ack["sha256"]):
            lost.append(f"{pid}: acked v{ack['version']}, MongoDB has v{mongo.get('version')}")
        for store, read in r.items():
            if store.startswith("etcd") and read.get("sha256") != mongo.get("sha256"):
                lost.append(f"{pid}: {store} differs from MongoDB's active content")
    return Verdict("no-lost-updates", not lost, {"acknowledged": len(acked), "lost": lost[:20]})


def opa_converged(history: list[Op], bound_s: float | None = None) -> Verdict:
    """After heal every OPA serves the latest acknowledged policy (MongoDB's active content),
    within `bound_s` of the heal when given: by the sites' observed revisions
    (checkers.after_heal), else by the final reads' `converged` event, whose `after_heal_s`
    runs from the same heal to the reads agreeing (an upper bound: the load may go on for a
    while after the heal). A run without a heal has no bound to keep."""
    reads = _reads(history)
    if not reads:
        return Verdict("opa-converged", UNKNOWN if _acked(history) else True, why="no final reads")
    stale = [f"{pid}: {store}" for pid, r in reads.items() for store, read in r.items()
             if store.startswith("opa") and read.get("sha256") != r.get("mongo", {}).get("sha256")]
    done = next((op.value for op in history if op.process == "final" and op.f == "converged"), {})
    after = after_heal(history)
    if after is None:
        after = done.get("after_heal_s")
    late = bound_s is not None and heal_time(history) is not None and (after if after is not None else math.inf) > bound_s
    return Verdict("opa-converged", not stale and not late,
                   {"stale": stale[:20], "after_heal_s": None if after is None else round(after, 3), "bound_s": bound_s})


def flows_available(history: list[Op], minimum: dict[str, float]) -> Verdict:
    """Availability per flow (ok / completed) at least `minimum[flow]`."""
    got = {f: a.availability for f, a in availability(history).items()}
    short = {f: round(got.get(f, math.nan), 4) for f, m in minimum.items() if not got.get(f, 0.0) >= m}
    return Verdict("availability", not short, {"measured": {f: round(v, 4) for f, v in got.items()},
                                               "minimum": minimum, "short": short})


def latency_within(history: list[Op], p99_s: dict[str, float]) -> Verdict:
    got = latency(history)
    over = {f: round(got[f].p99, 3) for f, m in p99_s.items() if f in got and got[f].p99 > m}
    return Verdict("latency-p99", not over, {"p99_s": {f: round(x.p99, 3) for f, x in got.items()},
                                             "maximum_s": p99_s, "over": over})


def unavailability(history: list[Op], window_s: float = 1.0) -> dict[str, float]:
    """Per flow, seconds of `window_s` windows (by intended start) in which under half the
    operations succeeded: how long users saw the flow down."""
    return {f: sum(window_s for w in ws if w.availability < 0.5)
            for f, ws in windowed_availability(history, window_s).items()}


def detection_within(history: list[Op], maximum_s: float | None, lb: str | None = None) -> Verdict:
    """HAProxy marked a server down within `maximum_s` of each fault's start (None: any time, or never)."""
    fos = failover(history, lb=lb)
    figures = {"detection_s": [None if f.detection_s is None else round(f.detection_s, 3) for f in fos],
               "recovery_s": [None if f.recovery_s is None else round(f.recovery_s, 3) for f in fos],
               "maximum_s": maximum_s}
    if maximum_s is None:
        return Verdict("detection", True, figures)
    bad = [f for f in fos if f.detection_s is None or f.detection_s > maximum_s]
    return Verdict("detection", bool(fos) and not bad, figures)


def no_dropped(history: list[Op], maximum: int = 0) -> Verdict:
    """Arrivals the client could not start on time (a saturated client hides outages)."""
    n = sum(op.error == "dropped" for op in history if op.type == "fail")
    return Verdict("client-kept-up", n <= maximum, {"dropped": n, "maximum": maximum})


def key_rotation_bound(history: list[Op]) -> Verdict:
    """No LLM call on an expired key: after a `key-rotation` fault, the LLM API refused no key
    (`llm` / `keys` events count refusals; a key past its grace period is refused)."""
    rotations = [op.time for op in history if op.process == "nemesis" and op.f == "key-rotation"
                 and (op.value or {}).get("phase") == "start"]
    if not rotations:
        return Verdict("key-rotation-bound", True, {"rotations": 0})
    counts = [(op.time, op.value) for op in history if op.process == "llm" and op.f == "keys"]
    if not counts:
        return Verdict("key-rotation-bound", UNKNOWN, {"rotations": len(rotations)}, "no LLM key counters recorded")
    before = max((v["rejected"] for t, v in counts if t <= rotations[0]), default=counts[0][1]["rejected"])
    refused = counts[-1][1]["rejected"] - before
    previous = [t - rotations[0] for t, v in counts if t > rotations[0] and v["accepted_previous_key"]]
    return Verdict("key-rotation-bound", refused == 0,
                   {"refused_after_rotation": refused, "last_old_key_use_s": round(max(previous), 3) if previous else None})
