"""One history, appended to by many client threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from harness.history import Op


class Recorder:
    """Times are seconds since the recorder was made; each op is stamped under the lock, so
    the history's order is its time order."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, t0: float | None = None) -> None:
        """`t0`: time 0 on `clock` (by default now): processes sharing a wall-clock `t0`
        record histories that merge (loadtests/, chaos/run.py)."""
        self._clock = clock
        self._t0 = clock() if t0 is None else t0
        self._lock = threading.Lock()
        self._ops: list[Op] = []

    def restart_clock(self) -> None:
        """Time 0 is now (the first arrival's plan time); only before anything is recorded."""
        with self._lock:
            assert not self._ops, "the clock of a recorder with a history cannot move"
            self._t0 = self._clock()

    def now(self) -> float:
        return self._clock() - self._t0

    def invoke(self, process: int | str, f: str, value: Any = None, at: float | None = None) -> Op:
        """`at`: the intended start (an open-loop arrival), so latency runs from then."""
        with self._lock:
            op = Op(process, "invoke", f, value=value, time=round(self.now() if at is None else at, 6))
            self._ops.append(op)
        return op

    def complete(self, invoked: Op, type: str, *, value: Any = None, site: str | None = None,
                 error: str | None = None, steps: dict[str, float] | None = None) -> Op:
        with self._lock:
            t = round(self.now(), 6)
            op = Op(invoked.process, type, invoked.f, value=value, time=t, latency=round(t - invoked.time, 6),
                    site=site, error=error, steps=steps or None)
            self._ops.append(op)
        return op

    def dropped(self, process: int | str, f: str, at: float) -> Op:
        """An arrival that could not start: a failure at its intended time, with no wait."""
        with self._lock:
            t = round(at, 6)
            ops = [Op(process, "invoke", f, time=t), Op(process, "fail", f, time=t, latency=0.0, error="dropped")]
            self._ops.extend(ops)
        return ops[1]

    def event(self, process: str, f: str, value: Any) -> Op:
        """A nemesis or system event (harness/history.py), stamped now."""
        with self._lock:
            op = Op(process, "info", f, value=value, time=round(self.now(), 6))
            self._ops.append(op)
        return op

    def absorb(self, ops: list[Op]) -> None:
        """Ops another recorder on the same `t0` made (a load generator's): the history
        stays in time order."""
        with self._lock:
            self._ops.extend(ops)
            self._ops.sort(key=lambda op: op.time)

    def history(self) -> list[Op]:
        with self._lock:
            return list(self._ops)
