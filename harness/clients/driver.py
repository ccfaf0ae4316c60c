"""Open-loop arrivals, as simulation/run.py makes them: Poisson within each stage of a load,
each arrival choosing its flow by the mix. Open loop means a slow system does not slow the
arrivals down; a thread pool runs them, and a start later than its arrival is counted.

    >>> from harness.scenario import Load
    >>> plan = arrivals(Load.constant(rps=20, duration_s=10), seed=1)
    >>> 150 < len(plan) < 250, plan == arrivals(Load.constant(rps=20, duration_s=10), seed=1)
    (True, True)
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.scenario import Load

LATE_S = 0.05  # a start this much behind its arrival means the pool, not the system, was the queue


def arrivals(load: Load, seed: int) -> list[tuple[float, str]]:
    """(time, flow) of every arrival, deterministic for a seed."""
    rng = random.Random(seed)
    cumulative, total = [], 0.0
    for flow, share in load.shares().items():
        total += share
        cumulative.append((total, flow))
    out: list[tuple[float, str]] = []
    start = 0.0
    for stage in load.stages:
        end = start + stage.duration_s
        at = start
        while stage.rps > 0 and (at := at + rng.expovariate(stage.rps)) < end:
            u = rng.random() * total
            out.append((at, next((f for c, f in cumulative if u < c), cumulative[-1][1])))
        start = end
    return out


@dataclass
class DriveStats:
    started: int = 0
    late: int = 0
    max_lag_s: float = 0.0
    error: BaseException | None = None  # the first exception a run raised (a client bug, not an outcome)


def drive(plan: list[tuple[float, str]], run: Callable[[int, str], object], *, workers: int,
          on_tick: Callable[[float], None] | None = None, tick_s: float = 5.0) -> DriveStats:
    """Start `run(index, flow)` at each planned time; wait for all; `on_tick(elapsed)` every tick_s."""
    stats, lock = DriveStats(), threading.Lock()
    t0 = time.monotonic()

    def start(i: int, at: float, flow: str) -> None:
        lag = time.monotonic() - t0 - at
        with lock:
            stats.started += 1
            stats.late += lag > LATE_S
            stats.max_lag_s = max(stats.max_lag_s, lag)
        try:
            run(i, flow)
        except BaseException as exc:  # noqa: BLE001 - kept and raised once all have run
            with lock:
                stats.error = stats.error or exc

    next_tick = tick_s
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="halab-client") as pool:
        for i, (at, flow) in enumerate(plan):
            while (now := time.monotonic() - t0) < at:
                wait = at - now
                if on_tick:
                    if now >= next_tick:
                        on_tick(now)
                        next_tick += tick_s
                    wait = min(wait, next_tick - now)
                time.sleep(max(wait, 0.0) + 1e-4)
            pool.submit(start, i, at, flow)
    if stats.error is not None:
        raise stats.error
    return stats
