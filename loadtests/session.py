"""What a Locust process needs to generate the lab's load, made once per process when its
first user starts (on a worker, after the master's spawn message has brought the options):
the target, the run's plan, the workload, the recorder on the master's time 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from harness.clients.driver import arrivals, concurrency
from harness.clients.recorder import Recorder
from harness.clients.workload import Workload
from loadtests import options
from loadtests.collect import COLLECTOR
from loadtests.target import Target

TARGET = "halab_target"  # master -> workers: the keys, which the spawn message must not carry


@dataclass
class Session:
    target: Target
    plan: options.Plan
    recorder: Recorder
    workload: Workload
    slice: int
    slices: int
    max_in_flight: int

    def my_arrivals(self, seed: int) -> list[tuple[int, float, str]]:
        """(index, time, flow) of this generator's share of the plan: every slices-th arrival."""
        plan = arrivals(self.plan.scenario.load, seed)
        return [(i, at, f) for i, (at, f) in enumerate(plan) if i % self.slices == self.slice]


_lock = threading.Lock()
_session: Session | None = None
_received: dict = {}


def on_target(msg, **_kw) -> None:
    _received.update(msg.data)


def target_message(target: Target) -> dict:
    return {"preset": target.preset, "run_id": target.run_id, "vip_url": target.vip_url, "keys": target.keys,
            "site_of": target.site_of, "request_timeout_s": target.request_timeout_s, "ca_pem": target.ca_pem}


def ssl_context_factory(target: Target):
    """For Locust's FastHttpUser, whose default is not to verify: the lab CA, names checked."""
    import gevent.ssl

    def factory(**_kw):
        return gevent.ssl.create_default_context(cadata=target.ca_pem or None)

    return factory


def local_target(opts) -> Target:
    return Target.from_state(opts.halab_state or None)


def get(environment) -> Session:
    global _session
    with _lock:
        if _session is None:
            opts = environment.parsed_options
            target = Target(**_received) if _received else local_target(opts)
            plan = options.plan(opts)
            runner = environment.runner
            index = max(getattr(runner, "worker_index", 0), 0)
            slices = max(opts.halab_slices, 1)
            cap = opts.halab_max_in_flight or concurrency(plan.scenario.load, target.request_timeout_s)
            _session = Session(target, plan, COLLECTOR.start(opts.halab_t0), Workload(opts.halab_seed, f"load-{index % slices}"),
                               index % slices, slices, cap)
        return _session
