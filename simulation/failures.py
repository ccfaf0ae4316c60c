"""Faults as processes (SimPy's machine-shop idea): each waits for its start, breaks
something, waits for its stop, heals it. The same fault kinds and targets as harness/scenario.

Breaking a component crashes its Station (work in flight is lost, new calls are refused);
breaking a site also makes it unreachable; a partition cuts links; a latency fault slows one.
Overlapping faults on one component are counted, so it restarts only when the last one heals.
Every change is recorded as a nemesis event and bumps `m.changes`.
"""

from __future__ import annotations

from harness.scenario import Fault, ScenarioError


def targets(m, fault: Fault) -> list:
    """The stations a fault stops (site-down, node-crash, component-down)."""
    if fault.kind == "site-down":
        found = [st for st in m.stations.values() if st.site == fault.target]
    elif fault.kind == "node-crash":
        found = [st for st in m.stations.values() if st.node == fault.target]
    elif fault.kind == "component-down":
        found = [st for st in m.stations.values() if fault.target in (st.name, st.kind)]
    else:
        return []
    if not found:
        raise ScenarioError(f"fault {fault.kind}: no {fault.target!r} in topology {m.topo.name!r}")
    return found


def links(m, fault: Fault) -> list[tuple[str, str]]:
    """The links a partition or latency fault acts on."""
    sites = fault.sites
    for s in sites:
        if s not in m.net.site_up:
            raise ScenarioError(f"fault {fault.kind}: no site {s!r} in topology {m.topo.name!r}")
    if len(sites) == 1:
        return [(lk.a, lk.b) for lk in m.topo.links if sites[0] in (lk.a, lk.b)]
    if m.topo.link(*sites[:2]) is None:
        raise ScenarioError(f"fault {fault.kind}: no link {sites[0]}<->{sites[1]}")
    return [tuple(sites[:2])]


def apply(m, fault: Fault, on: bool) -> None:
    net, now = m.net, m.env.now
    for st in targets(m, fault):
        count = m.down_count.get(st.name, 0) + (1 if on else -1)
        m.down_count[st.name] = count
        if on and count == 1:
            st.crash()
        elif not on and count == 0:
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


def run(m, fault: Fault):
    env = m.env
    yield env.timeout(fault.start_s)
    apply(m, fault, True)
    m.record("nemesis", fault.kind, {"target": fault.target, "phase": "start"}, env.now)
    if fault.stop_s is not None:
        yield env.timeout(fault.stop_s - fault.start_s)
        apply(m, fault, False)
        m.record("nemesis", fault.kind, {"target": fault.target, "phase": "stop"}, env.now)


def schedule(m, faults: tuple[Fault, ...]) -> None:
    for fault in faults:  # fail fast on a bad target, before any time passes
        targets(m, fault)
        if fault.kind in ("partition", "latency"):
            links(m, fault)
        m.env.process(run(m, fault))
    m.change_times = sorted({t for f in faults for t in (f.start_s, f.stop_s) if t is not None})
