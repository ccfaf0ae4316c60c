"""Checkers: pure functions from a history to a result (Jepsen's checker role).

The same functions score a measured history (harness) and a predicted one (simulation), so
a report can put the two side by side.

    >>> from harness.history import Op
    >>> h = [Op(1, "ok", "rag_query", time=1.0, latency=0.5), Op(2, "fail", "rag_query", time=2.0, latency=0.1)]
    >>> availability(h)["rag_query"].availability
    0.5
    >>> latency(h)["rag_query"].p50
    0.5
"""

from scenarios.checkers.availability import Availability, Window, availability, windowed_availability
from scenarios.checkers.events import Failover, failover, leaderless
from scenarios.checkers.hung import HUNG_S, Hung, hung
from scenarios.checkers.invariants import (
    detection_within,
    flows_available,
    latency_within,
    no_dropped,
    no_lost_updates,
    opa_converged,
    unavailability,
)
from scenarios.checkers.latency import Latency, latency, percentile
from scenarios.checkers.propagation import Propagation, after_heal, heal_time, propagation
from scenarios.checkers.verdict import UNKNOWN, Verdict, check_safe, compose

__all__ = [
    "HUNG_S",
    "UNKNOWN",
    "Verdict",
    "after_heal",
    "check_safe",
    "compose",
    "detection_within",
    "flows_available",
    "heal_time",
    "leaderless",
    "latency_within",
    "no_dropped",
    "no_lost_updates",
    "opa_converged",
    "unavailability",
    "Availability",
    "Failover",
    "Hung",
    "Latency",
    "Propagation",
    "Window",
    "availability",
    "failover",
    "hung",
    "latency",
    "percentile",
    "propagation",
    "windowed_availability",
]
