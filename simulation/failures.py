"""Faults as processes (SimPy's machine-shop idea): each waits for its start, breaks
something, waits for its stop, heals it. The same fault kinds and targets as harness/scenario.

Breaking a component crashes its Station (work in flight is lost, new calls are refused);
healing it restarts the Station once the component's start-up time (params.startup_s) has passed;
breaking a site also makes it unreachable; a partition cuts links; a latency fault slows one.
Overlapping faults on one component are counted, so it restarts only when the last one heals.
Every change is recorded as a nemesis event and bumps `m.changes`.

A `restart` is simulation/restart.py's. A `gated` fault starts at its time or once the fault
before it has fully started (a restart: back in every LB), whichever is later, as
chaos/schedule.py runs it; its stop keeps its distance from its start.
"""

from __future__ import annotations

from harness.faults import FAULT_KINDS, TargetError, fault_kind, resolve
from harness.scenario import Fault, ScenarioError
from simulation import restart
from simulation.restart import start_later

STOPS = ("site-down", "node-crash", "component-down")
# Modelled here though harness/faults.py's table does not say so yet: flagging it there would
# also put restarts into `halab explore`'s search and `halab fidelity`, a choice of their own.
ALSO_MODELLED = ("restart",)


def targets(m, fault: Fault) -> list:
    """The stations a fault stops (site-down, node-crash, component-down), by harness/faults' resolver."""
    if fault.kind not in STOPS + ALSO_MODELLED:
        return []
    return [m.stations[name] for name in _resolve(m, fault).components]


def links(m, fault: Fault) -> list[tuple[str, str]]:
    """The links a partition or latency fault acts on. The model's links are symmetric, so a
    one-way cut ("a->b") is refused rather than predicted as a two-way one."""
    directed = _resolve(m, fault).directed
    pairs = {frozenset(d) for d in directed}
    if len(directed) != 2 * len(pairs):
        raise ScenarioError(f"fault {fault.kind} {fault.target}: the model cuts links both ways; "
                            "an asymmetric target runs on the lab only")
    return sorted(tuple(sorted(p)) for p in pairs)


def _resolve(m, fault: Fault):
    kind = fault_kind(fault.kind)
    if not kind.modelled and kind.name not in ALSO_MODELLED:
        modelled = ", ".join(k for k, v in FAULT_KINDS.items() if v.modelled or k in ALSO_MODELLED)
        raise ScenarioError(f"fault {fault.kind}: the model does not predict it yet (it predicts {modelled}); "
                            "run it on the lab with `halab chaos` / `halab measure`")
    try:
        return resolve(m.topo, fault.kind, fault.target)
    except TargetError as exc:
        raise ScenarioError(str(exc)) from None


def apply(m, fault: Fault, on: bool) -> None:
    net, now = m.net, m.env.now
    for st in targets(m, fault):
        count = m.down_count.get(st.name, 0) + (1 if on else -1)
        m.down_count[st.name] = count
        if on and count == 1:
            st.crash()
        elif not on and count == 0:
            delay = m.params.startup_s.get(st.kind, 0.0)
            if delay > 0:
                m.env.process(start_later(m, st, delay, st.epoch))
            else:
                st.restart(now)
    if fault.kind == "site-down":
        net.set_site(fault.target, not on)
    elif fault.kind == "partition":
        for a, b in links(m, fault):
            (net.cut if on else net.heal)(a, b)
    elif fault.kind == "latency":
        for a, b in links(m, fault):
            if on:
                net.add_latency(a, b, fault.options.get("latency_ms", 100.0) / 1000.0,
                                fault.options.get("jitter_ms", 0.0) / 1000.0)
            else:
                net.reset_latency(a, b)
    m.changed()


def run(m, fault: Fault, gate=None, started=None):
    env = m.env
    yield env.timeout(fault.start_s)
    if fault.gated and gate is not None and not gate.processed:
        m.dynamic += 1  # it breaks things at a time no schedule knows: requests must check
        yield gate
        m.dynamic -= 1
    delay = env.now - fault.start_s
    m.record("nemesis", fault.kind, {"target": fault.target, "phase": "start"}, env.now)
    if fault.kind == "restart":
        yield from restart.run(m, fault, targets(m, fault))
        m.record("nemesis", fault.kind, {"target": fault.target, "phase": "started"}, env.now)
    else:
        apply(m, fault, True)
    if started is not None:
        started.succeed()
    if fault.stop_s is not None:
        yield env.timeout(max(0.0, fault.stop_s + delay - env.now))
        if fault.kind != "restart":  # a restart is over once started: its stop has nothing to undo
            apply(m, fault, False)
        m.record("nemesis", fault.kind, {"target": fault.target, "phase": "stop"}, env.now)


def schedule(m, faults: tuple[Fault, ...]) -> None:
    for fault in faults:  # fail fast on a bad target, before any time passes
        _resolve(m, fault)
        targets(m, fault)
        if fault.kind in ("partition", "latency"):
            links(m, fault)
    gate = None
    for fault in faults:
        started = m.env.event()
        m.env.process(run(m, fault, gate, started))
        gate = started
    m.change_times = sorted({t for f in faults for t in (f.start_s, f.stop_s) if t is not None})
