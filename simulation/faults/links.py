"""WAN faults on the model's (symmetric) links: a partition cuts them, a latency fault slows them."""

from __future__ import annotations

from harness.scenario import Fault
from simulation.faults.package import ModelFault
from simulation.faults.targets import links


def _cut(m, fault: Fault) -> None:
    for a, b in links(m, fault):
        m.net.cut(a, b)
    m.changed()


def _mend(m, fault: Fault) -> None:
    for a, b in links(m, fault):
        m.net.heal(a, b)
    m.changed()


def _slow(m, fault: Fault) -> None:
    o = fault.options
    for a, b in links(m, fault):
        m.net.add_latency(a, b, o.get("latency_ms", 100.0) / 1000.0, o.get("jitter_ms", 0.0) / 1000.0)
    m.changed()


def _unslow(m, fault: Fault) -> None:
    for a, b in links(m, fault):
        m.net.reset_latency(a, b)
    m.changed()


PACKAGES = {"partition": ModelFault(links, _cut, _mend), "latency": ModelFault(links, _slow, _unslow)}
