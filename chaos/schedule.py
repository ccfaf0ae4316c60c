"""A scenario's fault schedule run in time with its load: each fault starts and stops at its
scenario time on the recorder's clock, on a thread of its own, so a slow heal (containers
coming back) never delays the next fault or the arrivals. A `gated` fault also waits until
the fault before it has fully started (a restarted node back in the LB), however long that
takes; its stop keeps its distance from its start.

    with Schedule(nemesis, scenario.faults, recorder.now):      # doctest: +SKIP
        drive(...)
    # leaving: faults still active are stopped; Nemesis.heal_all() sweeps the rest
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from harness.scenario import Fault


class Schedule:
    def __init__(self, nemesis, faults: tuple[Fault, ...], now: Callable[[], float]) -> None:
        self.nemesis, self.faults, self.now = nemesis, faults, now
        self._cancel = threading.Event()
        self.errors: list[str] = []
        self._started = [threading.Event() for _ in faults]  # set once a fault's start returned
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"fault-{f.kind}")
                         for i, f in enumerate(faults)]

    def _sleep_until(self, t: float) -> bool:
        while (left := t - self.now()) > 0:
            if self._cancel.wait(min(left, 0.5)):
                return False
        return True

    def _gate(self, i: int) -> bool:
        while i > 0 and not self._started[i - 1].wait(0.5):
            if self._cancel.is_set():
                return False
        return True

    def _run(self, i: int) -> None:
        f = self.faults[i]
        try:
            if not self._sleep_until(f.start_s) or (f.gated and not self._gate(i)):
                return
            delay = max(0.0, self.now() - f.start_s)
            try:
                active = self.nemesis.start(f.kind, f.target, dict(f.options))
            except Exception as exc:  # noqa: BLE001 - reported with the run, the load goes on
                self.errors.append(f"{f.kind} {f.target} at {f.start_s:g} s: {exc}")
                return
        finally:
            self._started[i].set()  # a failed start opens the gate too: the schedule goes on
        if f.stop_s is not None:
            self._sleep_until(f.stop_s + delay)
        elif not self._cancel.wait():
            return
        try:
            self.nemesis.stop(active)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"healing {f.kind} {f.target}: {exc}")

    def __enter__(self) -> Schedule:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._cancel.set()
        for t in self._threads:
            t.join(timeout=300)  # a heal still stuck after that is Nemesis.heal_all()'s
