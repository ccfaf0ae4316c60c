"""The LoadTestShape of every halab run (Locust picks up the one shape of a locustfile).

Open model: the first tick fixes time 0 a little ahead (so every generator has its options
before its first arrival), tells the workers how many generators there are, and spawns one
OpenArrivals per generator; the run ends when every generator has reported its plan done
(the answers drained), or a request timeout after the plan's end at the latest.

Closed model: -u users (RagUser and one AdminUser) scaled by the shape's rate over its
peak, for the shape's duration.

HalabShape follows --halab-shape (or --halab-scenario's stages); SteadyShape, StepShape,
SpikeShape and DiurnalShape are one shape each, for Locust's `--class-picker` in the web UI.
Locust runs the first shape of the locustfile, HalabShape, unless one is picked.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from locust import LoadTestShape
from locust.runners import LocalRunner

from loadtests import options, session
from loadtests.closed_model import AdminUser, RagUser
from loadtests.collect import COLLECTOR, write_t0
from loadtests.open_model import OpenArrivals

log = logging.getLogger("halab")
LEAD_S = 2.0  # time 0 this far after the first tick: the spawn messages and the setup PUTs fit in it
DRAIN_S = 15.0  # after the plan and its request timeout: the last answers and histories arrive


class HalabShape(LoadTestShape):
    use_common_options = True  # -u and --spawn-rate keep their meaning for the closed model

    def __init__(self) -> None:
        super().__init__()
        self.plan: options.Plan | None = None
        self.t0 = 0.0
        self.slices = 1

    def tick(self):
        opts = self.runner.environment.parsed_options
        if self.plan is None:
            self._begin(opts)
        load = self.plan.scenario.load
        elapsed = time.time() - self.t0
        if self.plan.open:
            if len(COLLECTOR.done) >= self.slices or elapsed > load.duration_s + DRAIN_S + 60:
                return None
            return self.slices, self.slices, [OpenArrivals]
        rate = load.rate_at(max(elapsed, 0.0))
        if rate is None:
            return None
        peak = max(s.rps for s in load.stages)
        users = max(1, round((opts.num_users or 1) * rate / peak)) if rate > 0 else 0
        return users, opts.spawn_rate or max(users, 1), [RagUser, AdminUser]

    def _begin(self, opts) -> None:
        self.plan = options.plan(opts)
        workers = getattr(self.runner, "worker_count", 1)
        self.slices = max(1, workers) if self.plan.open else 1
        self.t0 = time.time() + (LEAD_S if self.plan.open else 0.0)
        opts.halab_t0, opts.halab_slices = self.t0, self.slices
        COLLECTOR.start(self.t0)
        if workers and not isinstance(self.runner, LocalRunner):
            self.runner.send_message(session.TARGET, session.target_message(session.local_target(opts)))
        write_t0(Path(opts.halab_out), self.t0)
        sc = self.plan.scenario
        if self.plan.open:
            log.info(f"halab: open model, {sc.name}: {sc.load.duration_s:g} s, peak "
                     f"{max(s.rps for s in sc.load.stages):g}/s over {self.slices} generator(s)")
        else:
            log.warning(f"halab: CLOSED model ({opts.num_users or 1} users, think {self.plan.think[0]:g}-"
                        f"{self.plan.think[1]:g} s): a slow system gets less load and an outage shows as fewer "
                        f"requests, not failures; --halab-rate R measures with open arrivals")
        if sc.faults:
            log.warning("halab: the scenario's faults run only under `halab load --scenario`; here only its load")


def _fixed(shape_name: str) -> type[HalabShape]:
    """A shape class that is always `shape_name` (for Locust's --class-picker in the web UI)."""

    class Fixed(HalabShape):
        def _begin(self, opts) -> None:
            opts.halab_shape = shape_name
            super()._begin(opts)

    Fixed.__name__ = Fixed.__qualname__ = f"{shape_name.capitalize()}Shape"
    Fixed.__doc__ = f"The {shape_name} shape, whatever --halab-shape says."
    return Fixed


SteadyShape, StepShape, SpikeShape, DiurnalShape = (_fixed(n) for n in ("steady", "step", "spike", "diurnal"))
