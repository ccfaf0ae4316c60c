"""A restart as the nemesis does it: simulation/restart.py's drain, stop, start and ready. It is
over once started, so its stop has nothing to undo."""

from __future__ import annotations

from harness.scenario import Fault
from simulation.faults.package import ModelFault
from simulation.faults.targets import stations
from simulation.restart import run as drain_stop_start


def _start(m, fault: Fault):
    yield from drain_stop_start(m, fault, stations(m, fault))
    m.record("nemesis", fault.kind, {"target": fault.target, "phase": "started"}, m.env.now)


PACKAGES = {"restart": ModelFault(stations, _start, lambda m, fault: None)}
