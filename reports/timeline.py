"""Timelines of a history per 1 s window: success rate and latency percentiles per flow, the
dropped arrivals, and the fault windows taken from the nemesis's events.

    >>> from harness.history import Op, event
    >>> h = [event("nemesis", "site-down", {"target": "dc2", "phase": "start"}, 2.0),
    ...      Op(1, "ok", "rag_query", time=0.5, latency=0.5), Op(2, "fail", "rag_query", time=2.6, latency=0.1),
    ...      event("nemesis", "site-down", {"target": "dc2", "phase": "stop"}, 4.0)]
    >>> [(w.start_s, w.total, w.success) for w in windows(h)["rag_query"]]
    [(0.0, 1, 1.0), (2.0, 1, 0.0)]
    >>> fault_windows(h)
    [FaultWindow(kind='site-down', target='dc2', start_s=2.0, stop_s=4.0)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import Op, completions
from scenarios.checkers.latency import percentile

WINDOW_S = 1.0


@dataclass(frozen=True)
class Window:
    """One flow's operations invoked in [start_s, start_s + width): latency over the ok ones."""

    start_s: float
    total: int
    ok: int
    dropped: int
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def success(self) -> float:
        return self.ok / self.total if self.total else float("nan")


@dataclass(frozen=True)
class FaultWindow:
    kind: str
    target: str
    start_s: float
    stop_s: float | None  # None: the history ends with the fault still on


def windows(history: Iterable[Op], width_s: float = WINDOW_S) -> dict[str, list[Window]]:
    """Per flow, one Window per `width_s` by invoke time; windows with no operation are left out."""
    ops: dict[str, dict[int, list[Op]]] = defaultdict(lambda: defaultdict(list))
    for op in completions(history):
        ops[op.f][math.floor(op.start / width_s)].append(op)
    out = {}
    for f, by in sorted(ops.items()):
        rows = []
        for w, xs in sorted(by.items()):
            ok = sorted(op.latency for op in xs if op.type == "ok")
            q = (lambda p, ok=ok: percentile(ok, p) if ok else None)
            rows.append(Window(w * width_s, len(xs), len(ok), sum(op.error == "dropped" for op in xs if op.type == "fail"),
                               q(50), q(95), q(99)))
        out[f] = rows
    return out


def fault_windows(history: Iterable[Op]) -> list[FaultWindow]:
    """Each nemesis start paired with the first later stop of the same kind and target."""
    events = sorted((op for op in history if op.process == "nemesis" and isinstance(op.value, dict)), key=lambda o: o.time)
    out = []
    for op in events:
        if op.value.get("phase") != "start":
            continue
        target = str(op.value.get("target", ""))
        stop = next((o.time for o in events if o.f == op.f and o.time >= op.time and o.value.get("phase") == "stop"
                     and str(o.value.get("target", "")) == target), None)
        out.append(FaultWindow(op.f, target, op.time, stop))
    return out


def system_events(history: Iterable[Op]) -> list[Op]:
    """HAProxy marks and Raft leadership changes, in time order (what the timeline annotates)."""
    return sorted((op for op in history if op.is_event and (op.process == "haproxy" or str(op.process).startswith("raft-"))),
                  key=lambda o: o.time)


def end_s(history: Iterable[Op]) -> float:
    return max((op.time for op in history), default=0.0)
