"""Latency percentiles per flow, over successful operations only (a failure's latency says
how fast it failed, not how fast the service is)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.history import Op


@dataclass(frozen=True)
class Latency:
    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); q in [0, 100]."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarise(values: Iterable[float]) -> Latency:
    xs = sorted(values)
    if not xs:
        nan = float("nan")
        return Latency(0, nan, nan, nan, nan, nan)
    return Latency(len(xs), sum(xs) / len(xs), percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), xs[-1])


def latency(history: Iterable[Op], start_s: float = 0.0, stop_s: float = float("inf")) -> dict[str, Latency]:
    """Per flow, over `ok` completions whose invoke falls in [start_s, stop_s)."""
    by_flow: dict[str, list[float]] = defaultdict(list)
    for op in history:
        if op.type == "ok" and op.latency is not None and start_s <= op.time - op.latency < stop_s:
            by_flow[op.f].append(op.latency)
    return {f: summarise(xs) for f, xs in sorted(by_flow.items())}
