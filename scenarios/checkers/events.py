"""Failover timing from the events in a history.

Besides client operations, a history may hold events from the nemesis and from the system
(Jepsen records nemesis ops the same way): `info` ops whose process is "nemesis" (f = the
fault kind, value = {"target": ..., "phase": "start"|"stop"}) or "haproxy" (f = "server-down"
/ "server-up", value = {"server": ...}) or "vrrp" (f = "master", value = {"lb": ...}). The model
writes them; the harness can write them from HAProxy's and keepalived's logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import Op


@dataclass(frozen=True)
class Failover:
    """For the first fault: when it started, and how long until HAProxy marked a server down
    (detection) and until it marked one up again after the fault stopped (recovery)."""

    fault: str
    target: str
    start_s: float
    detection_s: float | None
    recovery_s: float | None


def failover(history: Iterable[Op], lb: str | None = None) -> list[Failover]:
    """One Failover per nemesis fault, in order of start. Each HAProxy checks on its own: with
    `lb`, only that one's marks count (the VIP holder's are what users feel); without, the
    first mark by any."""
    ops = [op for op in history if op.process == "nemesis"
           or (op.process == "haproxy" and (lb is None or (op.value or {}).get("lb") == lb))]
    out = []
    for op in sorted(ops, key=lambda o: o.time):
        if op.process != "nemesis" or (op.value or {}).get("phase") != "start":
            continue
        target = op.value.get("target", "")
        # min(), not the first in order: a merged history need not be sorted.
        stop = min(
            (o.time for o in ops if o.process == "nemesis" and o.f == op.f and o.time >= op.time
             and (o.value or {}).get("phase") == "stop" and o.value.get("target") == target),
            default=None,
        )
        down = min((o.time for o in ops if o.process == "haproxy" and o.f == "server-down" and o.time >= op.time),
                   default=None)
        up = None
        if stop is not None:
            up = min((o.time for o in ops if o.process == "haproxy" and o.f == "server-up" and o.time >= stop),
                     default=None)
        out.append(
            Failover(
                op.f,
                target,
                op.time,
                None if down is None else down - op.time,
                None if up is None or stop is None else up - stop,
            )
        )
    return out


def leaderless(history: Iterable[Op], end_s: float | None = None) -> dict[str, float]:
    """Seconds each Raft group (etcd, vault) spent without a leader, from the `raft-<group>`
    events: the observer reports `leader` with the leader's name or None; the model reports
    `leader-lost` and `leader-elected`. A group still leaderless at the end counts until
    `end_s` (default: the last operation's time).

    >>> from harness.history import event
    >>> leaderless([event("raft-etcd", "leader", {"leader": "etcd1"}, 0.4), event("raft-etcd", "leader", {"leader": None}, 12.5),
    ...             event("raft-etcd", "leader", {"leader": "etcd1"}, 39.6), event("raft-vault", "leader-lost", {}, 10.0)], 50.0)
    {'etcd': 27.1, 'vault': 40.0}
    """
    history = list(history)
    end = end_s if end_s is not None else max((op.time for op in history), default=0.0)
    lost: dict[str, float | None] = {}
    total: dict[str, float] = {}
    for op in sorted((o for o in history if str(o.process).startswith("raft-")), key=lambda o: o.time):
        if op.f not in ("leader", "leader-lost", "leader-elected"):
            continue
        group = str(op.process).removeprefix("raft-")
        total.setdefault(group, 0.0)
        has_leader = op.f == "leader-elected" or (op.f == "leader" and (op.value or {}).get("leader"))
        if not has_leader and lost.get(group) is None:
            lost[group] = op.time
        elif has_leader and lost.get(group) is not None:
            total[group] += op.time - lost[group]
            lost[group] = None
    for group, since in lost.items():
        if since is not None:
            total[group] += max(0.0, end - since)
    return {g: round(s, 2) for g, s in sorted(total.items())}
