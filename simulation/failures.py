"""Faults as processes (SimPy's machine-shop idea): each waits for its start, breaks
something, waits for its stop, heals it. The same fault kinds and targets as harness/scenario.

What a fault does to the model is its kind's package in simulation/faults/: killed components
crash their Stations and restart after their start-up time, a dead site is unreachable, a
partition cuts links, a latency fault slows one, a restart drains, stops and starts. Every
change is recorded as a nemesis event and bumps `m.changes`.

A `gated` fault starts at its time or once the fault before it has fully started (a restart:
back in every LB), whichever is later, as chaos/schedule.py runs it; its stop keeps its
distance from its start.
"""

from __future__ import annotations

from harness.scenario import Fault
from simulation.faults import package


def run(m, fault: Fault, gate=None, started=None):
    env, pkg = m.env, package(fault)
    yield env.timeout(fault.start_s)
    if fault.gated and gate is not None and not gate.processed:
        m.dynamic += 1  # it breaks things at a time no schedule knows: requests must check
        yield gate
        m.dynamic -= 1
    delay = env.now - fault.start_s
    m.record("nemesis", fault.kind, {"target": fault.target, "phase": "start"}, env.now)
    starting = pkg.start(m, fault)
    if starting is not None:
        yield from starting
    if started is not None:
        started.succeed()
    if fault.stop_s is not None:
        yield env.timeout(max(0.0, fault.stop_s + delay - env.now))
        pkg.stop(m, fault)
        m.record("nemesis", fault.kind, {"target": fault.target, "phase": "stop"}, env.now)


def schedule(m, faults: tuple[Fault, ...]) -> None:
    for fault in faults:  # fail fast on a bad target, before any time passes
        package(fault).check(m, fault)
    gate = None
    for fault in faults:
        started = m.env.event()
        m.env.process(run(m, fault, gate, started))
        gate = started
    m.change_times = sorted({t for f in faults for t in (f.start_s, f.stop_s) if t is not None})
