"""A scenario's fault schedule run in time with its load: each fault starts and stops at its
scenario time on the recorder's clock, on a thread of its own, so a slow heal (containers
coming back) never delays the next fault or the arrivals.

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
        self._threads = [threading.Thread(target=self._run, args=(f,), daemon=True, name=f"fault-{f.kind}")
                         for f in faults]

    def _sleep_until(self, t: float) -> bool:
        while (left := t - self.now()) > 0:
            if self._cancel.wait(min(left, 0.5)):
                return False
        return True

    def _run(self, f: Fault) -> None:
        if not self._sleep_until(f.start_s):
            return
        try:
            active = self.nemesis.start(f.kind, f.target, dict(f.options))
        except Exception as exc:  # noqa: BLE001 - reported with the run, the load goes on
            self.errors.append(f"{f.kind} {f.target} at {f.start_s:g} s: {exc}")
            return
        if f.stop_s is not None:
            self._sleep_until(f.stop_s)
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
