"""A scenario's load against the running lab: the measured counterpart of `halab simulate`
(faults come from chaos/run.py, which wraps this).

Arrivals follow the scenario's load (driver.py); what each arrival does is
harness/clients/workload.py's, the same as Locust's (loadtests/). The run directory has the layout of a prediction's (scenarios/run_dir.py);
`halab calibrate DIR` fits the model's service times from it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

from harness.clients.driver import arrivals, concurrency, drive
from harness.clients.lab import LabClient
from harness.clients.recorder import Recorder
from harness.clients.workload import ADMIN, Workload
from harness.history import Op
from harness.scenario import Scenario
from harness.topology import trust
from harness.topology.lab import Lab

__all__ = ["ADMIN", "measure"]


def measure(lab: Lab, scenario: Scenario, *, seed: int = 0, workers: int | None = None,
            on_tick: Callable[[float, list[Op]], None] | None = None,
            during: Callable[[Recorder], AbstractContextManager] | None = None) -> tuple[list[Op], dict]:
    """Run `scenario`'s load against `lab` (a harness.topology Running); returns the history
    and what the driver saw. `during(recorder)` wraps the load: the nemesis's schedule and
    the observers run inside it (chaos/run.py), on the recorder's clock, which starts at the
    first arrival. `workers` defaults to the peak rate times the request timeout."""
    topo = lab.plan.topology
    recorder = Recorder()
    client = LabClient(lab.state.vip_url, lab.consumers, {g.name: g.site for g in lab.plan.of_kind("gateway")},
                       recorder, timeout_s=topo.params.timeouts.request_s, verify=trust.context(lab.state))
    workers = workers or concurrency(scenario.load, topo.params.timeouts.request_s)
    work = Workload(seed)
    try:
        for consumer, call in work.setup():
            client.http.request(call.method, call.path, json=call.body,
                                headers={"apikey": lab.consumers[consumer]}).raise_for_status()

        def run(i: int, flow: str, at: float) -> None:
            client.send(i, *work.call(i, flow), at=at)

        tick = (lambda elapsed: on_tick(elapsed, recorder.history())) if on_tick else None
        recorder.restart_clock()
        with during(recorder) if during else contextlib.nullcontext():
            stats = drive(arrivals(scenario.load, seed), run, workers=workers, on_tick=tick, clock=recorder.now,
                          on_drop=lambda i, flow, at: recorder.dropped(i, flow, at))
    finally:
        client.close()
    return recorder.history(), {"seed": seed, "workers": workers, "requests": stats.started + stats.dropped,
                                "dropped": stats.dropped, "late_starts": stats.late,
                                "max_start_lag_s": round(stats.max_lag_s, 4)}
