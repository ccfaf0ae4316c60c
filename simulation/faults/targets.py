"""A fault's target in the model's terms, by harness/faults' resolver: the stations it stops, the
links it acts on. A target the model cannot run is a ScenarioError."""

from __future__ import annotations

from harness.faults import TargetError, Targets, resolve
from harness.scenario import Fault, ScenarioError


def targets(m, fault: Fault) -> Targets:
    try:
        return resolve(m.topo, fault.kind, fault.target)
    except TargetError as exc:
        raise ScenarioError(str(exc)) from None


def stations(m, fault: Fault) -> list:
    return [m.stations[name] for name in targets(m, fault).components]


def links(m, fault: Fault) -> list[tuple[str, str]]:
    """The model's links are symmetric, so a one-way cut ("a->b") is refused rather than
    predicted as a two-way one."""
    directed = targets(m, fault).directed
    pairs = {frozenset(d) for d in directed}
    if len(directed) != 2 * len(pairs):
        raise ScenarioError(f"fault {fault.kind} {fault.target}: the model cuts links both ways; "
                            "an asymmetric target runs on the lab only")
    return sorted(tuple(sorted(p)) for p in pairs)
