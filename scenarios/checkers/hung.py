"""Hung requests per flow: those that took HUNG_S or more from their intended start to their
end, whatever came of them. A query that answers after 60 s is not a success to its user, and
one that fails after 60 s costs far more than one refused at once: availability counts neither
apart, this does. The longest request is reported beside it.

    >>> from harness.history import Op
    >>> h = [Op(1, "ok", "q", time=1.0, latency=0.2), Op(2, "fail", "q", time=61.0, latency=60.0),
    ...      Op(3, "info", "q", time=7.0, latency=6.0), Op(4, "ok", "q", time=5.0, latency=4.9)]
    >>> hung(h)["q"]
    Hung(count=2, longest_s=60.0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import Op, completions

# Past 5 s a user has given up. The gateway's own
# upstream timeout is 5 s, so nothing healthy takes that long: a request past it waited on
# something dead (a pooled connection to a dead DC, a check that has not yet marked it DOWN).
HUNG_S = 5.0


@dataclass(frozen=True)
class Hung:
    count: int
    longest_s: float


def hung(history: Iterable[Op], threshold_s: float = HUNG_S) -> dict[str, Hung]:
    """Per flow with any completion: how many took `threshold_s` or more, and the longest.
    Latency runs from the intended start (the harness's and the model's alike), so a request
    that waited for a connection counts its wait."""
    by_flow: dict[str, list[float]] = defaultdict(list)
    for op in completions(history):  # events carry no latency: never hung
        by_flow[op.f].append(op.latency or 0.0)
    return {f: Hung(sum(x >= threshold_s for x in xs), max(xs)) for f, xs in sorted(by_flow.items())}
