"""Open-loop arrivals, the ones simulation/run.py makes (harness.scenario.Load.arrivals): Poisson
within each stage of a load, each arrival choosing its flow by the mix. Open loop means a slow system does not slow the
arrivals down: a bounded pool runs them, a start later than its arrival is counted, and an
arrival that finds the pool full is recorded as a failed `dropped` operation at its time.

    >>> from harness.scenario import Load
    >>> plan = arrivals(Load.constant(rps=20, duration_s=10), seed=1)
    >>> 150 < len(plan) < 250, plan == arrivals(Load.constant(rps=20, duration_s=10), seed=1)
    (True, True)
"""

from __future__ import annotations

import math
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
    return [(at, flow) for at, _wait, flow in load.arrivals(random.Random(seed)) if flow is not None]


@dataclass
class DriveStats:
    started: int = 0
    dropped: int = 0  # arrivals that found every slot busy: recorded as failed `dropped` ops
    late: int = 0
    max_lag_s: float = 0.0
    error: BaseException | None = None  # the first exception a run raised (a client bug, not an outcome)


def concurrency(load: Load, timeout_s: float, floor: int = 32, ceiling: int = 1024) -> int:
    """In-flight requests to allow (k6's maxVUs): the peak rate times the request timeout,
    so even an outage where every request waits out its timeout keeps arrivals on time.

    >>> concurrency(Load.constant(10, 60), timeout_s=60)
    720
    """
    peak = max(s.rps for s in load.stages)
    return max(floor, min(ceiling, math.ceil(peak * timeout_s * 1.2)))


def drive(plan: list[tuple[float, str]], run: Callable[[int, str, float], object], *, workers: int,
          on_drop: Callable[[int, str, float], None] | None = None,
          on_tick: Callable[[float], None] | None = None, tick_s: float = 5.0,
          clock: Callable[[], float] | None = None) -> DriveStats:
    """Start `run(index, flow, intended_time)` at each planned time; wait for all.

    Open loop: at most `workers` run at once; an arrival that finds them all busy is not
    queued (that would hide an outage as fewer, later requests: coordinated omission) but
    handed to `on_drop(index, flow, intended_time)` at once. `clock` gives the times the
    plan is on (the recorder's), `on_tick(elapsed)` is called every tick_s.
    """
    stats, lock = DriveStats(), threading.Lock()
    t0 = time.monotonic()
    clock = clock or (lambda: time.monotonic() - t0)
    offset = clock()  # the plan's zero on the given clock
    slots = threading.BoundedSemaphore(workers)

    def start(i: int, at: float, flow: str) -> None:
        lag = clock() - offset - at
        with lock:
            stats.started += 1
            stats.late += lag > LATE_S
            stats.max_lag_s = max(stats.max_lag_s, lag)
        try:
            run(i, flow, offset + at)
        except BaseException as exc:  # noqa: BLE001 - kept and raised once all have run
            with lock:
                stats.error = stats.error or exc
        finally:
            slots.release()

    next_tick = tick_s
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="halab-client") as pool:
        for i, (at, flow) in enumerate(plan):
            while (now := clock() - offset) < at:
                wait = at - now
                if on_tick:
                    if now >= next_tick:
                        on_tick(now)
                        next_tick += tick_s
                    wait = min(wait, next_tick - now)
                time.sleep(max(wait, 0.0) + 1e-4)
            if slots.acquire(blocking=False):
                pool.submit(start, i, at, flow)
            else:
                stats.dropped += 1
                if on_drop:
                    on_drop(i, flow, offset + at)
    if stats.error is not None:
        raise stats.error
    return stats
