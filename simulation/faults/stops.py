"""Components killed (site-down, node-crash, component-down): each target Station crashes (work in
flight lost, new calls refused) and restarts once its start-up time (params.startup_s) has
passed after the heal; a dead site is also unreachable. Overlapping faults on one component
are counted, so it restarts only when the last one heals."""

from __future__ import annotations

from harness.scenario import Fault
from simulation.faults.package import ModelFault
from simulation.faults.targets import stations
from simulation.restart import start_later


def down(m, fault: Fault) -> None:
    for st in stations(m, fault):
        m.down_count[st.name] = m.down_count.get(st.name, 0) + 1
        if m.down_count[st.name] == 1:
            st.crash()


def up(m, fault: Fault) -> None:
    now = m.env.now
    for st in stations(m, fault):
        m.down_count[st.name] = m.down_count.get(st.name, 0) - 1
        if m.down_count[st.name] == 0:
            delay = m.params.startup_s.get(st.kind, 0.0)
            if delay > 0:
                m.env.process(start_later(m, st, delay, st.epoch))
            else:
                st.restart(now)


def _kill(m, fault: Fault) -> None:
    down(m, fault)
    m.changed()


def _heal(m, fault: Fault) -> None:
    up(m, fault)
    m.changed()


def _site_dark(m, fault: Fault) -> None:
    down(m, fault)
    m.net.set_site(fault.target, False)
    m.changed()


def _site_back(m, fault: Fault) -> None:
    up(m, fault)
    m.net.set_site(fault.target, True)
    m.changed()


_check = stations
PACKAGES = {
    "site-down": ModelFault(_check, _site_dark, _site_back),
    "node-crash": ModelFault(_check, _kill, _heal),
    "component-down": ModelFault(_check, _kill, _heal),
}
