"""Availability per flow: ok / all completions of client operations (events are skipped). `info` counts against availability (the
client could not tell it worked), but is reported apart so a reader can see the doubt."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import Op


@dataclass(frozen=True)
class Availability:
    ok: int
    fail: int
    info: int

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.info

    @property
    def availability(self) -> float:
        return self.ok / self.total if self.total else float("nan")


@dataclass(frozen=True)
class Window:
    """One time window, by invoke time: [start_s, start_s + width)."""

    start_s: float
    ok: int
    total: int

    @property
    def availability(self) -> float:
        return self.ok / self.total if self.total else float("nan")


def availability(history: Iterable[Op]) -> dict[str, Availability]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    index = {"ok": 0, "fail": 1, "info": 2}
    for op in history:
        i = index.get(op.type)
        if i is not None and op.latency is not None:  # events have no latency
            counts[op.f][i] += 1
    return {f: Availability(*c) for f, c in sorted(counts.items())}


def windowed_availability(history: Iterable[Op], window_s: float = 10.0) -> dict[str, list[Window]]:
    """Per flow, availability in consecutive windows of `window_s` by invoke time; windows
    with no operation in them are left out."""
    counts: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for op in history:
        if op.type in ("ok", "fail", "info") and op.latency is not None:
            w = math.floor(op.start / window_s)
            c = counts[op.f][w]
            c[1] += 1
            if op.type == "ok":
                c[0] += 1
    return {
        f: [Window(w * window_s, ok, total) for w, (ok, total) in sorted(ws.items())] for f, ws in sorted(counts.items())
    }
