"""The system's state over a run, from its events: HAProxy's view of each server, each Raft
group's leader, and each DC's policy loads. Measured and predicted histories name Raft
changes differently (the observer reports `leader` with the leader or None; the model
`leader-lost` / `leader-elected`); both read the same here.

    >>> from harness.history import event
    >>> h = [event("raft-etcd", "leader", {"leader": "etcd1"}, 0.4),
    ...      event("raft-etcd", "leader", {"leader": None}, 12.0),
    ...      event("haproxy", "server-down", {"lb": "lb1", "server": "gateway2"}, 20.0),
    ...      event("raft-etcd", "leader-elected", {"leader": "etcd1"}, 39.0)]
    >>> [(s.start_s, s.stop_s, s.state) for s in segments(h, 50.0)["etcd leader"]]
    [(0.4, 12.0, 'etcd1'), (12.0, 39.0, 'none'), (39.0, 50.0, 'etcd1')]
    >>> [(s.start_s, s.stop_s, s.state) for s in segments(h, 50.0)["lb1 → gateway2"]]
    [(0.0, 20.0, 'up'), (20.0, 50.0, 'down')]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import Op

NO_LEADER = "none"


@dataclass(frozen=True)
class Segment:
    track: str
    start_s: float
    stop_s: float
    state: str


@dataclass(frozen=True)
class Load:
    """One policy_sync load: when, where, and how long after the put it reached OPA."""

    site: str
    time_s: float
    delay_s: float


def _change(op: Op) -> tuple[str, str, str | None] | None:
    """(track, new state, the state before it if this is the track's first event and says so)."""
    v = op.value if isinstance(op.value, dict) else {}
    if op.process == "haproxy" and op.f in ("server-down", "server-up"):
        # HAProxy marks changes only: before its first mark a server was in the other state.
        state = op.f.removeprefix("server-")
        return f"{v.get('lb')} → {v.get('server')}", state, "up" if state == "down" else "down"
    if str(op.process).startswith("raft-") and op.f in ("leader", "leader-lost", "leader-elected"):
        track = f"{op.process.removeprefix('raft-')} leader"
        if op.f == "leader-lost":  # the model names the leader it lost
            return track, NO_LEADER, v.get("leader")
        return track, v.get("leader") or NO_LEADER, None
    return None


def segments(history: Iterable[Op], end_s: float) -> dict[str, list[Segment]]:
    """Per track, its states as consecutive segments up to `end_s`, in track order."""
    changes: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for op in sorted((o for o in history if o.is_event), key=lambda o: o.time):
        c = _change(op)
        if c is None:
            continue
        track, state, before = c
        if track not in changes and before and op.time > 0:
            changes[track].append((0.0, before))
        changes[track].append((op.time, state))
    out = {}
    for track in sorted(changes):
        xs = changes[track]
        segs: list[Segment] = []
        for (t, state), (t_next, _) in zip(xs, [*xs[1:], (end_s, None)], strict=True):
            if segs and segs[-1].state == state:
                segs[-1] = Segment(track, segs[-1].start_s, t_next, state)
            elif t_next > t:
                segs.append(Segment(track, t, t_next, state))
        out[track] = segs
    return out


def loads(history: Iterable[Op]) -> dict[str, list[Load]]:
    """Per DC, every policy load policy_sync reported, in time order."""
    out: dict[str, list[Load]] = defaultdict(list)
    for op in sorted((o for o in history if o.is_event), key=lambda o: o.time):
        v = op.value if isinstance(op.value, dict) else {}
        if op.process == "policy_sync" and op.f == "policy-loaded" and "delay_s" in v:
            out[str(v.get("site"))].append(Load(str(v.get("site")), op.time, float(v["delay_s"])))
    return dict(sorted(out.items()))
