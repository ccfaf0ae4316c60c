"""A `restart` fault as the nemesis does it (chaos/faults/restart.py `restart`): the target's gateways
drained on every LB until their sessions end, every component stopped and started again, and,
once all of them are healthy, the gateways made ready; the restart is over once every live LB
has them UP. A gated fault after it starts only then (simulation/failures.py), so a rolling
restart never has two app nodes out at once, however slow a start is.

Stopping is taken as instant (the lab's SIGTERM ends these services well within a second).
A start takes params.startup_s, stretched by params.starved_start when the fault starves it
(`cpus`). Where the lab gives up (a drain after 30 s, health after 120 s, the LB after 60 s),
the model goes on as a failed start does: the next gated fault starts.
"""

from __future__ import annotations

POLL_S = 0.2  # how often the nemesis asks HAProxy's Runtime API and the health endpoints
DRAIN_S, READY_S = 30.0, 60.0  # chaos/haproxy.py's drain and ready timeouts
HEALTHY_S = 120.0  # chaos/process.py's READY_TIMEOUT_S: a start still unhealthy then fails, and opens the gate


def run(m, fault, stations: list):
    """A process body: returns once the restart is over (what the next gated fault waits for)."""
    o = fault.options
    m.dynamic += 1  # its stop comes when the drain ends, a time no schedule knows
    drain = bool(o.get("drain", 1))
    gateways = [st for st in stations if st.kind == "gateway"] if drain else []
    lbs = list(m.haproxy.values())
    for h in lbs:
        for gw in gateways:
            h.drain(gw, True)
    yield from _until(m, lambda: all(m.idle(gw) for gw in gateways), DRAIN_S)
    for st in stations:
        m.down_count[st.name] = m.down_count.get(st.name, 0) + 1
        if m.down_count[st.name] == 1:
            st.crash()
    m.changed()
    m.dynamic -= 1  # the restart's one break is done: requests may trust the schedule again
    stretch = m.params.starved_start if float(o.get("cpus", 0) or 0) > 0 else 1.0
    for st in stations:
        m.down_count[st.name] -= 1
        if m.down_count[st.name] == 0:
            m.env.process(start_later(m, st, m.params.startup_s.get(st.kind, 0.0) * stretch, st.epoch))
    yield from _until(m, lambda: all(st.up for st in stations), HEALTHY_S)
    for h in lbs:
        for gw in gateways:
            h.drain(gw, False)
    yield from _until(m, lambda: all(h.in_rotation(gw) for h in lbs if h.lb.up for gw in gateways), READY_S)


def start_later(m, st, delay_s: float, epoch: int):
    """A stopped component back `delay_s` later, unless it was broken again meanwhile. Its
    container runs before that, params.container_start_s in (refusing connections until its
    process answers: simulation/lb.py)."""
    st.runs_from = m.env.now + min(delay_s, m.params.container_start_s)
    yield m.env.timeout(delay_s)
    if st.epoch == epoch and m.down_count.get(st.name, 0) == 0:
        st.restart(m.env.now)
        m.changed()


def _until(m, done, limit_s: float):
    waited = 0.0
    while not done() and waited < limit_s:
        yield m.env.timeout(POLL_S)
        waited += POLL_S
