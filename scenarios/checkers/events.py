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
