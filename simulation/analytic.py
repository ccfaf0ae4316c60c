"""Closed-form queueing results the model is checked against, and a capacity report can quote.

    >>> p_wait, wq = erlang_c(servers=2, arrival_rate=1.0, service_mean_s=1.0)
    >>> round(p_wait, 4), round(wq, 4)
    (0.3333, 0.3333)
"""

from __future__ import annotations

import math


def erlang_c(servers: int, arrival_rate: float, service_mean_s: float) -> tuple[float, float]:
    """M/M/c: the probability that an arrival waits, and the mean wait in seconds."""
    a = arrival_rate * service_mean_s  # offered load in Erlangs
    if a >= servers:
        return 1.0, math.inf
    top = a**servers / math.factorial(servers) / (1 - a / servers)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(servers)) + top)
    return p_wait, p_wait * service_mean_s / (servers - a)
