"""Run a scenario on the model of a spec; get the history the harness would have measured.

    >>> from harness.spec import preset
    >>> from harness.scenario import Load, Scenario
    >>> r = simulate(preset("seed"), Scenario("tiny", Load.constant(50, 20)), seed=7)
    >>> r.requests > 800, r.availability()["rag_query"].availability, r.hung()["rag_query"].count
    (True, 1.0, 0)
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from harness.history import Op
from harness.scenario import Load, Scenario
from harness.spec import Topology
from scenarios import checkers
from simulation import failures
from simulation.flows import FLOWS
from simulation.model import Model
from simulation.params import ModelParams


class start:
    """Run a request's generator as a process, without simpy.Process.

    Why: a Process costs two extra events per request (its Initialize event and its own
    termination event) plus a general-purpose resume with failure handling. A request only
    ever yields Timeouts, which never fail and nobody waits on it, so this driver just runs
    the generator to its next yield and registers itself on that timeout: a third fewer
    events, same order of execution (SimPy still orders the timeouts).

    A class, not a closure that names itself: that closure was a reference cycle per request,
    left to Python's cyclic collector, which then traversed every live request's generator
    again and again; under overload (Little's law: rate x wait of them alive) it took a
    quarter of the run.
    """

    __slots__ = ("gen",)

    def __init__(self, gen) -> None:
        self.gen = gen
        self.resume()

    def resume(self, _event=None) -> None:
        try:
            event = self.gen.send(None)
        except StopIteration:
            return
        event.callbacks.append(self.resume)


def arrivals(m: Model, load: Load):
    """Open-loop Poisson arrivals following the load's stages; each picks a flow by the mix
    (the draws are harness.scenario.Load.arrivals', the same the harness's driver makes)."""
    env = m.env
    rid = 0
    for _at, wait, flow in load.arrivals(m.stream("arrivals"), start=env.now):
        yield env.timeout(wait)
        if flow is not None:
            rid += 1
            start(FLOWS[flow](m, rid))


@dataclass
class Result:
    model: Model
    scenario: Scenario
    wall_s: float
    sim_events: int
    _history: list[Op] | None = field(default=None, repr=False)

    @property
    def requests(self) -> int:
        return len(self.model.log)

    def completions(self) -> Iterator[Op]:
        """Only completions (what most checkers need), cheaper than the whole history."""
        for rid, f, t0, t1, type_, site, error, steps, value in self.model.log:
            yield Op(rid, type_, f, value, t1, t1 - t0, site, error, steps)

    def history(self) -> list[Op]:
        """The full history in time order: invoke and completion per request, plus events."""
        if self._history is None:
            ops = list(self.model.events)
            for rid, f, t0, t1, type_, site, error, steps, value in self.model.log:
                ops.append(Op(rid, "invoke", f, None, t0))
                ops.append(Op(rid, type_, f, value, t1, t1 - t0, site, error, steps))
            ops.sort(key=lambda op: op.time)  # stable: an invoke precedes its own completion
            self._history = ops
        return self._history

    def availability(self) -> dict[str, checkers.Availability]:
        return checkers.availability(self.completions())

    def latency(self) -> dict[str, checkers.Latency]:
        return checkers.latency(self.completions())

    def hung(self) -> dict[str, checkers.Hung]:
        """Per flow, requests that took checkers.HUNG_S or more (on a dead pooled connection, say)."""
        return checkers.hung(self.completions())

    def utilisation(self) -> dict[str, float]:
        duration = self.scenario.load.duration_s
        return {st.name: st.utilisation(duration) for st in self.model.stations.values() if st.kind != "lb"}

    def cpu_utilisation(self) -> dict[str, float]:
        """Per machine of the CPU placement (the host, or each node's VM): core-seconds used over
        its cores x the load's duration; empty when the model has no CPU demand."""
        cpu = self.model.cpu
        return cpu.utilisation(self.scenario.load.duration_s) if cpu is not None else {}

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.wall_s if self.wall_s else float("inf")

    @property
    def events_per_s(self) -> float:
        return self.sim_events / self.wall_s if self.wall_s else float("inf")


@contextlib.contextmanager
def _no_cyclic_gc():
    """The model makes no reference cycles (tests/simulation/test_sim_run.py holds it to that),
    so Python's cyclic collector would find nothing; it only walks every live request again
    and again, the more of them the more overloaded the model (a sixth of an overloaded run
    even without cycles). Paused for the run, restored after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def simulate(topo: Topology, scenario: Scenario, params: ModelParams | None = None, seed: int = 0,
             record_steps: bool = False, progress: Callable[[float, float], None] | None = None,
             chunks: int = 50) -> Result:
    """Run `scenario` on the model of `topo`. `progress(simulated_s, total_s)` is called
    between chunks of simulated time."""
    m = Model(topo, params, seed, record_steps)
    failures.schedule(m, scenario.faults)
    start(arrivals(m, scenario.load))  # arrivals only yield timeouts too
    # Run past the last arrival until the slowest possible request has finished.
    total = scenario.load.duration_s + m.request_s + 1.0
    began = time.perf_counter()
    with _no_cyclic_gc():
        for i in range(1, chunks + 1):
            m.env.run(until=total * i / chunks)
            if progress:
                progress(m.env.now, total)
    wall = time.perf_counter() - began
    # SimPy numbers every scheduled event from one counter; the next number is the count.
    events = next(m.env._eid)
    return Result(m, scenario, wall, events)
