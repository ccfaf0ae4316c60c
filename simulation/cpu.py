"""CPU: the cores a request's work runs on, shared by every station on the same machine.

A station's service time was all its own; with CPU demand (params.CPU_S) part of it needs a
core of the machine the component runs on: a visit holds one of the station's servers (a
worker), then a core for the flow's CPU seconds there (queueing while every core of that
machine is busy), then waits out the rest of its service time on I/O, holding no core. Where
the cores are is the placement: "host", the lab, one machine whose `host_cores` every
container and the load generator share; "vms", production, each node of the spec its own
`node_cores` (the load generator runs elsewhere, as users do).

Why SimPy resources here when the stations compute their queues on arrival (Lindley's
recursion, simulation/components.py): a visit's end now waits on cores that other stations'
requests hold, which no station knows at the arrival. Only stations with a demand go event by
event; without one (every demand 0, the default) the model is exactly the model without CPU.

Demand that no station visit carries is held once per request: the load generator's and any
lab-only pseudo-kind's at the request's start (host only), and that of kinds the flow does not
queue at (HAProxy, MongoDB, the LLM, policy_sync on an update) once the gateway and OPA have
admitted it, on the node of that kind nearest the request's site.

    >>> import simpy
    >>> env = simpy.Environment()
    >>> cores = Cores(env, "host", 2)
    >>> for _ in range(3):
    ...     _ = env.process(cores.hold(1.0))
    >>> env.run()
    >>> env.now, cores.busy, cores.utilisation(env.now)   # the third waited for a core
    (2.0, 3.0, 0.75)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from harness.scenario import POLICY_UPDATE, RAG_INGEST, RAG_QUERY

if TYPE_CHECKING:
    from simulation.components import Station
    from simulation.model import Model

HOST, VMS = "host", "vms"
PLACEMENTS = (HOST, VMS)
CLIENT = "client"  # the load generator's pseudo-kind

# Station visits per request of each flow on its path without faults (simulation/flows.py):
# a kind's demand per request is spread over them. A query crosses the gateway twice (in, and
# the hairpin to the LLM); a kind absent here is no station of that flow.
VISITS = {
    RAG_QUERY: {"gateway": 2, "opa": 1, "rag": 1, "vectordb": 1},
    POLICY_UPDATE: {"gateway": 1, "opa": 1, "cms": 1, "etcd": 1},
    RAG_INGEST: {"gateway": 1, "opa": 1, "rag": 1, "vectordb": 1},
}


class Cores:
    """The cores of one machine (the host, or one node's VM): FCFS, one request per core."""

    __slots__ = ("env", "name", "cores", "resource", "busy")

    def __init__(self, env: simpy.Environment, name: str, cores: int) -> None:
        self.env, self.name, self.cores = env, name, cores
        self.resource = simpy.Resource(env, cores)
        self.busy = 0.0  # core-seconds used

    def hold(self, seconds: float):
        req = self.resource.request()
        yield req
        yield self.env.timeout(seconds)
        self.resource.release(req)
        self.busy += seconds

    def utilisation(self, duration_s: float) -> float:
        return self.busy / (self.cores * duration_s) if duration_s > 0 else 0.0


class StationCpu:
    """A station's workers as a resource, the machine whose cores it runs on, and its CPU
    seconds per visit of each flow."""

    __slots__ = ("env", "servers", "workers", "cores", "per_visit")

    def __init__(self, env: simpy.Environment, servers: int, cores: Cores, per_visit: dict[str, float]) -> None:
        self.env, self.servers, self.cores, self.per_visit = env, servers, cores, per_visit
        self.workers = simpy.Resource(env, servers)

    def restart(self) -> None:
        # A restarted process starts with empty queues; requests still holding the old
        # workers release them there.
        self.workers = simpy.Resource(self.env, self.servers)


class Cpu:
    """The machines of one placement, and every request's demand on them."""

    def __init__(self, m: Model) -> None:
        p, env, topo = m.params, m.env, m.topo
        if p.cpu not in PLACEMENTS:
            raise ValueError(f"CPU placement {p.cpu!r}: one of {', '.join(PLACEMENTS)}")
        self.placement = p.cpu
        if p.cpu == HOST:
            host = Cores(env, HOST, p.host_cores)
            self.machines = {HOST: host}
            node_of = {st.name: host for st in m.stations.values()}
        else:
            self.machines = {n.name: Cores(env, n.name, p.node_cores) for s in topo.sites for n in s.nodes}
            node_of = {st.name: self.machines[st.node] for st in m.stations.values()}
        kinds = {st.kind for st in m.stations.values()}
        for st in m.stations.values():
            per_visit = {f: d[st.kind] / VISITS[f][st.kind] for f, d in p.cpu_s.items()
                         if d.get(st.kind, 0.0) > 0 and st.kind in VISITS.get(f, {})}
            if per_visit:
                st.cpu = StationCpu(env, st.servers, node_of[st.name], per_visit)
        # At the start: the load generator's and the lab-only containers' (host only).
        self.start = {f: sum(s for k, s in d.items() if k not in kinds) for f, d in p.cpu_s.items()} if p.cpu == HOST else {}
        # After the front, per (flow, site): [(machine, seconds)] of the kinds no station visit carries.
        self.front: dict[tuple[str, str], list[tuple[Cores, float]]] = {}
        for f, d in p.cpu_s.items():
            for site in topo.app_sites():
                held: dict[str, float] = {}
                for kind, s in d.items():
                    if s > 0 and kind in kinds and kind not in VISITS.get(f, {}):
                        st = _nearest(m, kind, site)
                        held[node_of[st.name].name] = held.get(node_of[st.name].name, 0.0) + s
                if held:
                    self.front[(f, site)] = [(self.machines[n], s) for n, s in held.items()]

    def utilisation(self, duration_s: float) -> dict[str, float]:
        return {name: c.utilisation(duration_s) for name, c in self.machines.items()}


def _nearest(m: Model, kind: str, site: str) -> Station:
    return min((st for st in m.stations.values() if st.kind == kind), key=lambda st: st.site != site)


def visit(m: Model, st: Station, flow: str):
    """Station.visit with CPU, as a process: returns when service ends (now), or -1.0 if the
    wait for a worker passed the caller's timeout (it abandons, holding nothing)."""
    env, cpu = m.env, st.cpu
    arrive = env.now
    st.visits += 1
    workers = cpu.workers
    req = workers.request()
    if not req.triggered:
        if st.timeout_s < float("inf"):
            yield req | env.timeout(st.timeout_s)
            if not req.triggered:
                req.cancel()
                st.abandoned += 1
                return -1.0
        else:
            yield req
        st.waits += 1
        st.wait_sum += env.now - arrive
    began = env.now
    service = st.draw()
    demand = cpu.per_visit.get(flow, 0.0)
    if demand > 0:
        yield from cpu.cores.hold(demand)
    if service > demand:
        yield env.timeout(service - demand)
    workers.release(req)
    st.busy += env.now - began
    return env.now


def hold(m: Model, f: str, site: str | None = None):
    """The demand of flow `f` no station visit carries: the start's (`site` None) or the front's."""
    cpu = m.cpu
    if site is None:
        if (s := cpu.start.get(f, 0.0)) > 0:
            yield from cpu.machines[HOST].hold(s)
        return
    for cores, s in cpu.front.get((f, site), ()):
        yield from cores.hold(s)
